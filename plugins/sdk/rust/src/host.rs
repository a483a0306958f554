//! The host's functions, wherever the plugin runs: the real imports inside
//! the engine, the test's [`crate::testing::TestHost`] in a native build
//! (where wit-bindgen's imports would abort).

use crate::log::Level;

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::host;
    use crate::log::Level;

    pub fn log(level: Level, message: &str, fields: &[(String, String)]) {
        host::log(level, message, fields);
    }

    pub fn config_get(key: &str) -> Option<String> {
        host::config_get(key)
    }

    pub fn config_all() -> Vec<(String, String)> {
        host::config_all()
    }

    pub fn now_ms() -> u64 {
        host::now_ms()
    }
}

#[cfg(not(target_arch = "wasm32"))]
use crate::testing::native as imp;

pub fn log(level: Level, message: &str, fields: &[(String, String)]) {
    imp::log(level, message, fields)
}

pub fn config_get(key: &str) -> Option<String> {
    imp::config_get(key)
}

pub fn config_all() -> Vec<(String, String)> {
    imp::config_all()
}

pub fn now_ms() -> u64 {
    imp::now_ms()
}
