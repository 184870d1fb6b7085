pub mod broker;
pub mod stomp;
