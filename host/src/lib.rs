pub mod cli;
pub mod config;
pub mod plugin;
pub mod policy;
