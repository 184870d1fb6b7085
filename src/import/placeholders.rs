//! `${name}` placeholders in an activemq.xml, resolved before it is converted: the properties
//! of its `PropertyPlaceholderConfigurer` bean (inline `<props>` and the `.properties` files of
//! its `locations`), then ActiveMQ's own `activemq.conf` (the file's directory),
//! `activemq.base` (its parent) and `activemq.data` (`<base>/data`). What cannot be resolved is
//! left as written and reported by name.

use std::collections::BTreeMap;
use std::path::Path;

/// The resolved text and the placeholder names left unresolved.
pub struct Resolved {
    pub xml: String,
    pub unresolved: Vec<String>,
}

/// Resolves the placeholders of `xml`, read from `path` (None: no file locations known).
pub fn resolve(xml: &str, path: Option<&Path>) -> Result<Resolved, String> {
    let mut props = BTreeMap::new();
    if let Some(conf) = path.and_then(Path::parent) {
        let conf = std::fs::canonicalize(conf).unwrap_or_else(|_| conf.to_path_buf());
        let base = conf.parent().unwrap_or(&conf).to_path_buf();
        props.insert("activemq.conf".to_string(), conf.display().to_string());
        props.insert(
            "activemq.data".into(),
            base.join("data").display().to_string(),
        );
        props.insert("activemq.base".into(), base.display().to_string());
    }
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not valid XML: {e}"))?;
    let configurers = doc.descendants().filter(|n| {
        n.tag_name().name() == "bean"
            && n.attribute("class")
                .is_some_and(|c| c.ends_with("PlaceholderConfigurer"))
    });
    for bean in configurers {
        for prop in bean.descendants().filter(|n| n.tag_name().name() == "prop") {
            if let (Some(k), Some(v)) = (prop.attribute("key"), prop.text()) {
                props.insert(k.to_string(), v.trim().to_string());
            }
        }
        let locations = bean
            .descendants()
            .filter(|n| n.tag_name().name() == "value")
            .filter_map(|n| n.text())
            .map(str::trim)
            .map(str::to_string)
            .collect::<Vec<_>>();
        for loc in locations {
            let (file, _) = substitute(&loc, &props);
            let file = file.strip_prefix("file:").unwrap_or(&file).to_string();
            if let Ok(text) = std::fs::read_to_string(&file) {
                props.extend(java_properties(&text));
            }
        }
    }
    let (xml, unresolved) = substitute(xml, &props);
    Ok(Resolved { xml, unresolved })
}

/// Replaces every `${k}` whose `k` is known; returns the names that were not.
fn substitute(text: &str, props: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut unresolved: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match props.get(name) {
            Some(v) => out.push_str(&xml_escape(v)),
            None => {
                out.push_str(&rest[start..=start + len]);
                if !unresolved.iter().any(|u| u == name) {
                    unresolved.push(name.to_string());
                }
            }
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    (out, unresolved)
}

fn xml_escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// `key=value` / `key: value` lines of a Java properties file (comments skipped).
fn java_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_of_the_file_and_activemqs_own_are_resolved() {
        let dir = std::env::temp_dir().join(format!("shoal-ph-{}", std::process::id()));
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("credentials.properties"), "# c\nwire.port=6166\n").unwrap();
        let xml = r#"<beans>
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer">
    <property name="locations"><value>file:${activemq.conf}/credentials.properties</value></property>
    <property name="properties"><props><prop key="stomp.port">6163</prop></props></property>
  </bean>
  <broker dataDirectory="${activemq.data}">
    <c uri="stomp://0.0.0.0:${stomp.port}"/><c uri="tcp://0.0.0.0:${wire.port}"/>
    <c uri="tcp://${nowhere}:1"/><c uri="tcp://${nowhere}:2"/>
  </broker></beans>"#;
        let r = resolve(xml, Some(&conf.join("activemq.xml"))).unwrap();
        assert!(r.xml.contains("stomp://0.0.0.0:6163"), "{}", r.xml);
        assert!(r.xml.contains("tcp://0.0.0.0:6166"), "{}", r.xml);
        let data = std::fs::canonicalize(&dir).unwrap().join("data");
        assert!(
            r.xml.contains(&format!("\"{}\"", data.display())),
            "{}",
            r.xml
        );
        assert_eq!(r.unresolved, ["nowhere"]);
        assert!(r.xml.contains("tcp://${nowhere}:1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
