//! iptables rules in the shape of the seed's bastion script (default policies DROP, loopback
//! and established traffic allowed), opening exactly the ports this config listens on.

use crate::broker::server::parse_listen;
use crate::config::Config;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Whether a listen address `HOST:PORT` (`[::1]:…` too) is reachable from this machine only.
pub fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Ports (with what they are) that this config serves beyond loopback.
pub fn exposed_ports(config: &Config) -> BTreeSet<(u16, &'static str)> {
    let mut ports = BTreeSet::new();
    let cluster = config
        .cluster
        .iter()
        .flat_map(|c| c.listen.iter().map(|l| (l.clone(), true)));
    let clients = config.listen_addrs().into_iter().map(|l| (l, false));
    for (l, is_cluster) in clients.chain(cluster) {
        let Ok((addr, tls)) = parse_listen(&l) else {
            continue;
        };
        let Some((_, port)) = addr.rsplit_once(':') else {
            continue;
        };
        if is_loopback(&addr) {
            continue;
        }
        if let Ok(p) = port.parse() {
            let what = match (is_cluster, tls) {
                (true, true) => "cluster (bridges, TLS)",
                (true, false) => "cluster (bridges)",
                (false, true) => "stomp+ssl",
                (false, false) => "stomp",
            };
            ports.insert((p, what));
        }
    }
    ports
}

pub fn iptables(config: &Config) -> String {
    let mut s = String::new();
    let ports = exposed_ports(config);
    let _ = writeln!(
        s,
        "# iptables rules for this config (default DROP, as the seed's bastion script)"
    );
    for line in [
        "ipt=/sbin/iptables",
        "$ipt -t filter -F",
        "$ipt -X",
        "$ipt -P INPUT   DROP",
        "$ipt -P OUTPUT  DROP",
        "$ipt -P FORWARD DROP",
        "$ipt -A INPUT  -i lo -j ACCEPT",
        "$ipt -A OUTPUT -o lo -j ACCEPT",
        "$ipt -A INPUT  -m state --state ESTABLISHED,RELATED -j ACCEPT",
        "$ipt -A OUTPUT -m state --state ESTABLISHED,RELATED -j ACCEPT",
        "$ipt -A INPUT  -m state --state NEW -p tcp --dport 22 -j ACCEPT # ssh",
    ] {
        let _ = writeln!(s, "{line}");
    }
    if ports.is_empty() {
        let _ = writeln!(
            s,
            "# every listener is on loopback: no broker port needs opening"
        );
    }
    for (port, what) in ports {
        let _ = writeln!(
            s,
            "$ipt -A INPUT  -m state --state NEW -p tcp --dport {port} -j ACCEPT # {what}"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_loopback_ports_are_opened() {
        let c = Config::parse(
            "listen = [\"127.0.0.1:6163\", \"0.0.0.0:6163\", \"stomp+ssl://10.1.2.3:6164\", \"[::1]:7000\"]\n",
            std::path::Path::new("x.toml"),
        )
        .unwrap();
        let rules = iptables(&c);
        assert!(
            rules.contains("--dport 6163 -j ACCEPT # stomp\n"),
            "{rules}"
        );
        assert!(
            rules.contains("--dport 6164 -j ACCEPT # stomp+ssl\n"),
            "{rules}"
        );
        assert!(!rules.contains("7000"), "{rules}");
        assert!(rules.contains("-P INPUT   DROP"));
        let local = Config::parse("", std::path::Path::new("x.toml")).unwrap();
        assert!(iptables(&local).contains("no broker port needs opening"));
    }
}
