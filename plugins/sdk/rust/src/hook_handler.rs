//! Hook handler: takes part in lifecycle events (`JobSubmit`, `PreJobStart`,
//! `PreToolUse`, ...; each event's payload is described in docs/hooks.md).
//! When several handlers answer, deny > ask > allow > none.

use crate::Result;
pub use crate::bindings::hook_handler_world::exports::ringmaster::plugin::hook_handler::{Event, Permission, Response};

/// A hook handler; export it with [`crate::export_hook_handler!`].
pub trait HookHandler {
    /// The events wanted; `["*"]` for all of them.
    fn events() -> Result<Vec<String>>;

    /// Answers one event.
    fn handle(event: Event) -> Result<Response>;
}

impl Response {
    /// No opinion: other handlers decide.
    pub fn pass() -> Response {
        Response::with(Permission::None, None)
    }

    pub fn allow() -> Response {
        Response::with(Permission::Allow, None)
    }

    /// Refuses, telling the caller why.
    pub fn deny(reason: impl Into<String>) -> Response {
        Response::with(Permission::Deny, Some(reason.into()))
    }

    /// Asks the user (tool events inside agents; a deny elsewhere).
    pub fn ask(reason: impl Into<String>) -> Response {
        Response::with(Permission::Ask, Some(reason.into()))
    }

    fn with(permission: Permission, reason: Option<String>) -> Response {
        Response { permission, reason, updated_input_json: None, additional_context: None }
    }
}

/// Exports `$ty`, a [`HookHandler`], as the plugin's `hook-handler`.
#[macro_export]
macro_rules! export_hook_handler {
    ($ty:ident) => {
        const _: () = {
            use $crate::__private::hook_handler_world::exports::ringmaster::plugin::hook_handler as wit;
            impl wit::Guest for $ty {
                fn events() -> ::std::vec::Vec<::std::string::String> {
                    $crate::__private::or_trap("events", <$ty as $crate::hook_handler::HookHandler>::events())
                }
                fn handle(event: wit::Event) -> wit::Response {
                    $crate::__private::or_trap("handle", <$ty as $crate::hook_handler::HookHandler>::handle(event))
                }
            }
        };
        /// Natively nothing is exported; this keeps the plugin's code
        /// alive for its tests (and out of dead-code warnings).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __ringmaster_plugin_hook_handler() -> &'static [*const ()] {
            &[<$ty as $crate::hook_handler::HookHandler>::events as *const (), <$ty as $crate::hook_handler::HookHandler>::handle as *const ()]
        }
        #[cfg(target_arch = "wasm32")]
        $crate::__private::hook_handler_world::export!($ty with_types_in $crate::__private::hook_handler_world);
    };
}
