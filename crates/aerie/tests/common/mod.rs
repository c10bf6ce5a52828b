pub mod node;
pub mod postgres;
