//! The plugin contract on the host's side: the extension points (described
//! once, here), the contract version, and the plain types policies, hook
//! handlers and commands see and answer ([`types`]).
//!
//! A leaf module. The engine, the policies, hooks and commands speak these
//! types; only `plugin::wit` knows the WIT bindings, and converts at one
//! seam per contract version (`plugin/wit/since_v0_1.rs`), so a contract
//! 0.2 changes that seam, not the engine.

pub mod types;

pub use types::*;

use std::fmt;

/// The WIT package plugins implement.
pub const PACKAGE: &str = "ringmaster:plugin";

/// The contract version this host implements. A plugin built against any
/// `0.1.x` loads; other versions are refused with a message naming both.
pub const VERSION: Version = Version { major: 0, minor: 1, patch: 0 };

/// A `major.minor.patch` version of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.').map(|p| p.split(['-', '+']).next().unwrap_or(p).parse::<u64>());
        let version = Version { major: parts.next()?.ok()?, minor: parts.next()?.ok()?, patch: parts.next()?.ok()? };
        parts.next().is_none().then_some(version)
    }

    /// Semver compatibility as WIT uses it: same major, and for 0.x the same minor.
    pub fn is_compatible_with(self, other: Version) -> bool {
        self.major == other.major && (self.major != 0 || self.minor == other.minor)
    }

    /// The range of versions this one is compatible with, for error messages.
    pub fn compatible_range(self) -> String {
        if self.major == 0 {
            format!("{0}.{1}.0..{0}.{1}.x", self.major, self.minor)
        } else {
            format!("{0}.0.0..{0}.x.x", self.major)
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Declares [`ExtensionPoint`] from one table, so that the variants, `ALL`,
/// the WIT interface names and which points are policies cannot disagree.
macro_rules! extension_points {
    ($($(#[doc = $doc:literal])* $point:ident => $interface:literal, policy: $policy:literal;)*) => {
        /// The things a plugin can provide: one WIT interface each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum ExtensionPoint {
            $($(#[doc = $doc])* $point,)*
        }

        impl ExtensionPoint {
            pub const ALL: &[ExtensionPoint] = &[$(ExtensionPoint::$point),*];

            /// The WIT interface name, e.g. `timeout-estimator`.
            pub fn interface(self) -> &'static str {
                match self {
                    $(ExtensionPoint::$point => $interface,)*
                }
            }

            /// Policies sit on the scheduling hot path and get the short
            /// deadline, and a configuration selects one plugin for each;
            /// hooks and commands get the long deadline, and all run.
            pub fn is_policy(self) -> bool {
                match self {
                    $(ExtensionPoint::$point => $policy,)*
                }
            }
        }
    };
}

extension_points! {
    /// Ranks queued jobs and picks what starts.
    Scheduler => "scheduler", policy: true;
    /// Sets an attempt's hard and idle timeouts.
    TimeoutEstimator => "timeout-estimator", policy: true;
    /// Decides whether and when a failed attempt is retried.
    RetryPolicy => "retry-policy", policy: true;
    /// Sees, vetoes or rewrites what happens to jobs.
    HookHandler => "hook-handler", policy: false;
    /// Offers slash commands.
    Commands => "commands", policy: false;
}

impl ExtensionPoint {
    pub fn from_interface(name: &str) -> Option<ExtensionPoint> {
        ExtensionPoint::ALL.iter().copied().find(|p| p.interface() == name)
    }

    /// The extension points a configuration selects one plugin for.
    pub fn policies() -> impl Iterator<Item = ExtensionPoint> {
        ExtensionPoint::ALL.iter().copied().filter(|point| point.is_policy())
    }

    /// The fully qualified interface name, e.g. `ringmaster:plugin/scheduler@0.1.0`.
    pub fn qualified(self) -> String {
        format!("{PACKAGE}/{}@{VERSION}", self.interface())
    }
}

impl fmt::Display for ExtensionPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.interface())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_is_found_by_its_interface_name() {
        assert_eq!(ExtensionPoint::ALL.len(), 5);
        for &point in ExtensionPoint::ALL {
            assert_eq!(ExtensionPoint::from_interface(point.interface()), Some(point));
        }
        let policies: Vec<ExtensionPoint> = ExtensionPoint::policies().collect();
        assert_eq!(
            policies,
            [ExtensionPoint::Scheduler, ExtensionPoint::TimeoutEstimator, ExtensionPoint::RetryPolicy]
        );
    }

    #[test]
    fn zero_major_versions_are_compatible_only_within_a_minor() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("0.1.3").is_compatible_with(VERSION));
        assert!(!v("0.2.0").is_compatible_with(VERSION));
        assert!(!v("1.1.0").is_compatible_with(VERSION));
        assert!(v("1.4.0").is_compatible_with(v("1.0.2")));
        assert_eq!(Version::parse("0.1"), None);
        assert_eq!(VERSION.compatible_range(), "0.1.0..0.1.x");
    }
}
