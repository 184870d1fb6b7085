//! Where MCollective messages go: the destination names of the activemq and rabbitmq
//! connectors (`connector/activemq.rb`, `connector/rabbitmq.rb`).

/// Which connector's naming a broker expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connector {
    /// ActiveMQ and shoal: `/topic/<c>.<agent>.agent`, `/queue/<c>.nodes` + selector.
    #[default]
    ActiveMq,
    /// RabbitMQ's STOMP plugin: `/exchange/<c>_broadcast/<agent>`, `/exchange/<c>_directed/<id>`.
    RabbitMq,
}

/// A subscription a node makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSubscription {
    pub destination: String,
    pub selector: Option<String>,
    pub id: String,
}

impl Connector {
    /// Where a broadcast request for `agent` in `collective` is sent (and nodes subscribe).
    pub fn broadcast(self, collective: &str, agent: &str) -> String {
        match self {
            Connector::ActiveMq => format!("/topic/{collective}.{agent}.agent"),
            Connector::RabbitMq => format!("/exchange/{collective}_broadcast/{agent}"),
        }
    }

    pub fn broadcast_subscription(self, collective: &str, agent: &str) -> NodeSubscription {
        let destination = self.broadcast(collective, agent);
        NodeSubscription {
            id: match self {
                Connector::ActiveMq => destination.clone(),
                Connector::RabbitMq => format!("{collective}_broadcast_{agent}"),
            },
            destination,
            selector: None,
        }
    }

    /// The subscription for requests directed to `identity`.
    pub fn directed_subscription(self, collective: &str, identity: &str) -> NodeSubscription {
        match self {
            Connector::ActiveMq => NodeSubscription {
                destination: format!("/queue/{collective}.nodes"),
                selector: Some(format!("mc_identity = '{identity}'")),
                id: format!("{collective}_directed_to_identity"),
            },
            Connector::RabbitMq => NodeSubscription {
                destination: format!("/exchange/{collective}_directed/{identity}"),
                selector: None,
                id: format!("{collective}_{identity}_directed_to_identity"),
            },
        }
    }

    /// Where a request directed to `identity` is sent, and the header that picks the node.
    pub fn directed(
        self,
        collective: &str,
        identity: &str,
    ) -> (String, Option<(&'static str, String)>) {
        match self {
            Connector::ActiveMq => (
                format!("/queue/{collective}.nodes"),
                Some(("mc_identity", identity.to_string())),
            ),
            Connector::RabbitMq => (format!("/exchange/{collective}_directed/{identity}"), None),
        }
    }

    /// A client's reply destination and whether the client must SUBSCRIBE to it (RabbitMQ's
    /// `/temp-queue/` is created by the reply-to header itself).
    pub fn reply_to(self, collective: &str, identity: &str, seq: u64) -> (String, bool) {
        match self {
            Connector::ActiveMq => (
                format!(
                    "/queue/{collective}.reply.{identity}_{}.{seq}",
                    std::process::id()
                ),
                true,
            ),
            Connector::RabbitMq => (format!("/temp-queue/mcollective_reply_{seq}"), false),
        }
    }

    /// The collective a node-side destination belongs to, and what it tells about the node:
    /// the inverse of the names above (activemq naming; what shoal brokers see).
    pub fn classify(destination: &str, selector: Option<&str>) -> Option<NodeDestination> {
        if let Some(rest) = destination.strip_prefix("/topic/") {
            let rest = rest.strip_suffix(".agent")?;
            let (collective, agent) = rest.split_once('.')?;
            if agent.contains('.') || collective.is_empty() || agent.is_empty() {
                return None;
            }
            return Some(NodeDestination::Agent {
                collective: collective.to_string(),
                agent: agent.to_string(),
            });
        }
        let collective = destination
            .strip_prefix("/queue/")?
            .strip_suffix(".nodes")?;
        if collective.is_empty() || collective.contains('.') {
            return None;
        }
        Some(NodeDestination::Directed {
            collective: collective.to_string(),
            identity: selector.and_then(identity_of_selector),
        })
    }
}

/// What a node's subscription says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeDestination {
    Agent {
        collective: String,
        agent: String,
    },
    Directed {
        collective: String,
        identity: Option<String>,
    },
}

/// `mc_identity = 'node1'` → `node1` (the only selector shape nodes use).
pub fn identity_of_selector(selector: &str) -> Option<String> {
    let rest = selector.trim().strip_prefix("mc_identity")?.trim_start();
    let rest = rest.strip_prefix('=')?.trim();
    let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    if inner.contains('\'') {
        return None;
    }
    Some(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_ruby_connectors() {
        let a = Connector::ActiveMq;
        assert_eq!(a.broadcast("qa", "rpcutil"), "/topic/qa.rpcutil.agent");
        let d = a.directed_subscription("mcollective", "node1");
        assert_eq!(d.destination, "/queue/mcollective.nodes");
        assert_eq!(d.selector.as_deref(), Some("mc_identity = 'node1'"));
        assert_eq!(d.id, "mcollective_directed_to_identity");
        let r = Connector::RabbitMq;
        assert_eq!(
            r.broadcast("qa", "discovery"),
            "/exchange/qa_broadcast/discovery"
        );
        assert_eq!(r.directed("qa", "n1").0, "/exchange/qa_directed/n1");
    }

    #[test]
    fn subscriptions_classify_back_into_membership() {
        assert_eq!(
            Connector::classify("/topic/qacollective.discovery.agent", None),
            Some(NodeDestination::Agent {
                collective: "qacollective".into(),
                agent: "discovery".into()
            })
        );
        assert_eq!(
            Connector::classify("/queue/mcollective.nodes", Some("mc_identity = 'node2'")),
            Some(NodeDestination::Directed {
                collective: "mcollective".into(),
                identity: Some("node2".into())
            })
        );
        assert_eq!(
            Connector::classify("/queue/mcollective.reply.x_1.1", None),
            None
        );
        assert_eq!(Connector::classify("/topic/a.b.c.agent", None), None);
        assert_eq!(Connector::classify("/topic/foo", None), None);
        assert_eq!(
            identity_of_selector("mc_identity='a.b-c'"),
            Some("a.b-c".into())
        );
        assert_eq!(identity_of_selector("other = 'x'"), None);
    }
}
