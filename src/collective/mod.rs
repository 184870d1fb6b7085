//! MCollective 2.x compatibility: the wire protocol (Ruby Marshal bodies, the psk and ssl security
//! plugins, the activemq/rabbitmq connectors' destinations), a node agent, a ping client, and
//! membership inferred from what nodes subscribe to.

pub mod agents;
pub mod bench;
pub mod connector;
pub mod filter;
pub mod marshal;
pub mod mco_config;
pub mod membership;
pub mod message;
pub mod node;
pub mod ping;
pub mod roster;
pub mod security;
