//! Containing panics. A panic is a bug, but it must not take more with it
//! than the one thing that failed: no job left `running`, no place or lock
//! held, no client waiting forever for an answer. The places that run work
//! on behalf of others (an attempt's task, a scheduling round, a watcher's
//! reload, an MCP request) catch it, log it with [`message`], and answer or
//! clean up as if that one piece of work had failed.

use std::any::Any;

/// The text a panic was raised with, when it has one.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_of_static_and_formatted_panics() {
        let caught = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
        assert_eq!(super::message(&*caught), "boom");
        let caught = std::panic::catch_unwind(|| panic!("{} {}", "formatted", 2)).unwrap_err();
        assert_eq!(super::message(&*caught), "formatted 2");
    }
}
