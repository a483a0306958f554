//! A plugin author's start from the binary alone: `ringmaster plugin wit`
//! and `ringmaster plugin new`, whose projects must build, pass
//! `plugin check` and their own tests untouched, outside this repository.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ringmaster_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args(args)
        .current_dir(dir)
        .env_remove("RINGMASTER_CONFIG")
        .env("RINGMASTER_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn plugin_wit_writes_the_contract_the_binary_speaks_and_keeps_edits_unless_forced() {
    let scratch = tempfile::tempdir().unwrap();
    let out = ringmaster_in(scratch.path(), &["plugin", "wit"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("ringmaster:plugin@0.1.0 (2 of 2 files written)"), "{}", said(&out));
    let repo_wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    for name in ["types.wit", "worlds.wit"] {
        let written = std::fs::read_to_string(scratch.path().join("wit").join(name)).unwrap();
        assert_eq!(written, std::fs::read_to_string(repo_wit.join(name)).unwrap(), "{name}");
    }

    let edited = scratch.path().join("wit/types.wit");
    std::fs::write(&edited, "// mine\n").unwrap();
    let out = ringmaster_in(scratch.path(), &["plugin", "wit"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("types.wit exist with other content (nothing was written; --force"), "{}", said(&out));
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "// mine\n");

    let out = ringmaster_in(scratch.path(), &["plugin", "wit", "--force"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("(1 of 2 files written)"), "{}", said(&out));
}

/// Runs cargo in `project`, with build output shared by every project of
/// the test run (and kept between runs), so the SDK's dependencies build once.
fn cargo(project: &Path, args: &[&str]) {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args(args)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target_dir().join("plugin-new"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo {args:?} in {}:\n{}", project.display(), said(&out));
}

#[test]
fn every_kind_of_new_project_builds_passes_check_and_its_own_tests() {
    let scratch = tempfile::tempdir().unwrap();
    let kinds = ["scheduler", "timeout-estimator", "retry-policy", "hook-handler", "commands"];
    for kind in kinds {
        let name = format!("my-{kind}");
        let out = ringmaster_in(scratch.path(), &["plugin", "new", "--kind", kind, &name]);
        assert!(out.status.success(), "{}", said(&out));
        let project: PathBuf = scratch.path().join(&name);

        cargo(&project, &["build", "--release", "--target", "wasm32-wasip2", "--quiet"]);
        let artifact =
            target_dir().join("plugin-new/wasm32-wasip2/release").join(format!("my_{}.wasm", kind.replace('-', "_")));
        // Installed as the README says: NAME.wasm with its manifest beside it.
        let installed = scratch.path().join("plugins");
        std::fs::create_dir_all(&installed).unwrap();
        std::fs::copy(&artifact, installed.join(format!("{name}.wasm"))).unwrap();
        std::fs::copy(project.join(format!("{name}.yaml")), installed.join(format!("{name}.yaml"))).unwrap();
        let out = ringmaster_in(scratch.path(), &["plugin", "check", &format!("plugins/{name}.wasm")]);
        assert!(out.status.success(), "{kind}: {}", said(&out));
        let report = said(&out);
        assert!(report.contains(&format!("{name}@0.1.0")), "{report}");
        assert!(report.contains(&format!("provides:     ringmaster:plugin/{kind}@0.1.0")), "{report}");

        cargo(&project, &["test", "--quiet"]);
    }

    // A second project of the same name is refused and the first one kept.
    let out = ringmaster_in(scratch.path(), &["plugin", "new", "--kind", "commands", "my-scheduler"]);
    assert!(!out.status.success());
    assert!(said(&out).contains("exists and is not empty"), "{}", said(&out));
    assert!(scratch.path().join("my-scheduler/src/lib.rs").is_file());
}
