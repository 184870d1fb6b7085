//! The seed's two activemq.xml files, converted by `shoal import-activemq`, run as two brokers
//! bridged both ways (duplex on each side, as in the seed) and carry MCollective-style traffic
//! once, under the converted users and ACLs.

mod common;
use common::{frame, Broker, Stomp, TempDir};
use std::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn import(xml: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["import-activemq", xml])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_seed_activemq_configs_convert_and_run_as_a_duplex_pair() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let (one, report) = import(&format!("{fixtures}/activemq-mqbroker01.xml"));
    let (two, _) = import(&format!("{fixtures}/activemq-mqbroker02.xml"));
    assert!(
        report.contains("not mapped: broker attribute destroyApplicationContextOnStop"),
        "{report}"
    );
    assert!(report.contains("password stays plaintext"), "{report}");
    // The hosts of the seed become loopback ports of this test.
    let (c1, c2) = (free_port(), free_port());
    let local = |toml: &str, own: u16| {
        toml.replace("0.0.0.0:6166", &format!("127.0.0.1:{own}"))
            .replace("mqbroker01:6166", &format!("127.0.0.1:{c1}"))
            .replace("mqbroker02:6166", &format!("127.0.0.1:{c2}"))
            .replace("listen = [\"0.0.0.0:6163\"]\n", "")
    };
    let d1 = TempDir::new("import1");
    let cfg1 = d1.write("broker.toml", &local(&one, c1));
    let d2 = TempDir::new("import2");
    let cfg2 = d2.write("broker.toml", &local(&two, c2));
    let b1 = Broker::start_in(d1, &cfg1, &["--name", "mqbroker01"]);
    let b2 = Broker::start_in(d2, &cfg2, &["--name", "mqbroker02"]);
    assert!(
        b1.wait_log("bridge connected bridge=amq1-amq2"),
        "{}",
        b1.log()
    );
    assert!(
        b2.wait_log("bridge connected bridge=amq2-amq1"),
        "{}",
        b2.log()
    );
    // An MCollective node on mqbroker02, a client on mqbroker01, with the converted users.
    let mut node = Stomp::login(&b2.addr, "mcollective", "marionette").expect("converted user");
    node.subscribe("d", "/topic/mcollective.discovery.agent", &[]);
    let mut client = Stomp::login(&b1.addr, "admin", "secret").unwrap();
    let mut n = 0;
    loop {
        client.send_sync(
            "/topic/mcollective.discovery.agent",
            &[],
            format!("ping {n}").as_bytes(),
        );
        if node
            .recv_within(std::time::Duration::from_millis(200))
            .is_some()
        {
            break;
        }
        n += 1;
        assert!(
            n < 50,
            "no route between the converted brokers:\n{}\n{}",
            b1.log(),
            b2.log()
        );
    }
    while node
        .recv_within(std::time::Duration::from_millis(300))
        .is_some()
    {}
    for i in 0..100 {
        client.send(&frame(
            "SEND",
            &[("destination", "/topic/mcollective.discovery.agent")],
            format!("m{i}").as_bytes(),
        ));
    }
    client.request(frame(
        "SEND",
        &[("destination", "/queue/mcollective.flush")],
        b"",
    ));
    let mut got = Vec::new();
    while let Some(f) = node.recv_within(std::time::Duration::from_millis(800)) {
        got.push(String::from_utf8_lossy(&f.body).into_owned());
    }
    let expected: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    assert_eq!(
        got, expected,
        "each message once, in order, over two duplex links between the pair"
    );
    // The converted ACL still keeps a mcollective-only user out of admin destinations.
    let mut user = Stomp::login(&b1.addr, "mcollective", "marionette").unwrap();
    user.send(&frame("SEND", &[("destination", "/queue/other")], b"x"));
    user.expect_error("access denied: mcollective may not write /queue/other");
}

/// `${…}` placeholders: the file's PropertyPlaceholderConfigurer properties are resolved (the
/// listener is where the property says); an unknown one is reported by name.
#[test]
fn placeholders_are_resolved_from_the_files_properties() {
    let dir = TempDir::new("placeholders");
    let port = free_port();
    let xml = dir.write(
        "activemq.xml",
        &format!(
            r#"<beans>
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer">
    <property name="properties"><props><prop key="stomp.port">{port}</prop></props></property>
  </bean>
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="ph" dataDirectory="${{activemq.data}}">
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${{stomp.port}}"/>
      <transportConnector name="openwire" uri="tcp://127.0.0.1:${{wire.port}}"/>
    </transportConnectors>
  </broker>
</beans>"#
        ),
    );
    let (toml, report) = import(xml.to_str().unwrap());
    assert!(
        toml.contains(&format!("listen = [\"127.0.0.1:{port}\"]")),
        "{toml}"
    );
    assert!(
        report.contains("placeholder ${wire.port}: not resolved"),
        "{report}"
    );
    assert!(!report.contains("stomp.port"), "{report}");
}
