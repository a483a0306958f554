pub mod config;
pub mod plugin;
pub mod policy;
pub mod cli;
