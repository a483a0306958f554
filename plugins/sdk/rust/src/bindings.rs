//! The bindings wit-bindgen generates, one module per world of the contract.
//!
//! One `generate!` per world (not one for a world exporting everything)
//! because a component must define every export its world names: a plugin
//! that schedules must not be asked for a retry policy. The export macros
//! are public (`pub_export_macro`), so the export glue and the world's
//! description are emitted in the plugin's crate, only for the points it
//! exports. The shared interfaces (`types`, `host`) are generated once, in
//! the scheduler's module, and the other worlds use those (`with`).

pub mod scheduler_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "scheduler-plugin",
        pub_export_macro: true,
        additional_derives: [PartialEq],
    });
}

pub use scheduler_world::ringmaster::plugin::{host, types};

pub mod timeout_estimator_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "timeout-estimator-plugin",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        with: {
            "ringmaster:plugin/types@0.1.0": crate::bindings::types,
            "ringmaster:plugin/host@0.1.0": crate::bindings::host,
        },
    });
}

pub mod retry_policy_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "retry-policy-plugin",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        with: {
            "ringmaster:plugin/types@0.1.0": crate::bindings::types,
            "ringmaster:plugin/host@0.1.0": crate::bindings::host,
        },
    });
}

pub mod hook_handler_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "hook-handler-plugin",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        with: {
            "ringmaster:plugin/types@0.1.0": crate::bindings::types,
            "ringmaster:plugin/host@0.1.0": crate::bindings::host,
        },
    });
}

pub mod commands_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "commands-plugin",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        with: {
            "ringmaster:plugin/host@0.1.0": crate::bindings::host,
        },
    });
}
