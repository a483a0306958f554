//! Slash commands computed by code: a command answers with text, or with a
//! job for the host to submit.

use crate::Result;
pub use crate::bindings::commands_world::exports::ringmaster::plugin::commands::{
    CommandInfo, JobOptions, JobRequest, Outcome,
};

/// A set of slash commands; export it with [`crate::export_commands!`].
pub trait Commands {
    /// The commands provided.
    fn list_commands() -> Vec<CommandInfo>;

    /// Runs command `name` with the argument string as typed after the
    /// name. An error is shown to the caller.
    fn run(name: String, arguments: String) -> Result<Outcome>;
}

impl CommandInfo {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> CommandInfo {
        CommandInfo { name: name.into(), description: description.into(), argument_hint: None }
    }

    /// How to pass arguments, e.g. `"[ref] [focus...]"`.
    pub fn argument_hint(self, hint: impl Into<String>) -> CommandInfo {
        CommandInfo { argument_hint: Some(hint.into()), ..self }
    }
}

impl JobOptions {
    /// Every option at the host's default.
    pub fn defaults() -> JobOptions {
        JobOptions {
            agent: None,
            model: None,
            priority: None,
            tags: Vec::new(),
            timeout_ms: None,
            max_retries: None,
            allowed_tools: Vec::new(),
        }
    }
}

/// Exports `$ty`, a [`Commands`], as the plugin's `commands`.
#[macro_export]
macro_rules! export_commands {
    ($ty:ident) => {
        const _: () = {
            use $crate::__private::commands_world::exports::ringmaster::plugin::commands as wit;
            impl wit::Guest for $ty {
                fn list_commands() -> ::std::vec::Vec<wit::CommandInfo> {
                    <$ty as $crate::commands::Commands>::list_commands()
                }
                fn run(
                    name: ::std::string::String,
                    arguments: ::std::string::String,
                ) -> ::std::result::Result<wit::Outcome, ::std::string::String> {
                    <$ty as $crate::commands::Commands>::run(name, arguments).map_err(|e| e.to_string())
                }
            }
        };
        /// Natively nothing is exported; this keeps the plugin's code
        /// alive for its tests (and out of dead-code warnings).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __ringmaster_plugin_commands() -> &'static [*const ()] {
            &[<$ty as $crate::commands::Commands>::list_commands as *const (), <$ty as $crate::commands::Commands>::run as *const ()]
        }
        #[cfg(target_arch = "wasm32")]
        $crate::__private::commands_world::export!($ty with_types_in $crate::__private::commands_world);
    };
}
