//! The container image without a container engine: lay out a folder the way the
//! Dockerfile's runtime stage does (its `WORKDIR`, `COPY` and `ENV` lines, read from
//! the Dockerfile itself), run its `ENTRYPOINT` + `CMD` there, ask it with its
//! `HEALTHCHECK` command, and stop it with its `STOPSIGNAL`. What this cannot cover
//! is the base images themselves; hadolint (in `.ci/run`) lints the rest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{binary, free_address, repo, wait_until, Daemon};

/// The runtime stage of the Dockerfile: what it copies, sets and runs.
#[derive(Debug, Default)]
struct Runtime {
    workdir: String,
    env: Vec<(String, String)>,
    /// (source in the build context, destination), relative destinations under `workdir`.
    copies: Vec<(String, String)>,
    /// Destinations copied from the builder stage (folders made by it).
    built: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
    stopsignal: String,
}

fn json_array(text: &str) -> Vec<String> {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not a JSON array ({e}): {text}"))
}

/// Reads the stage after the last `FROM`, joining `\` continuation lines.
fn runtime_stage() -> Runtime {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let stage = joined.rsplit("\nFROM ").next().unwrap_or_default();
    let mut rt = Runtime::default();
    for line in stage.lines().map(str::trim) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "WORKDIR" => rt.workdir = rest.trim().to_string(),
            "ENV" => {
                let (k, v) = rest.trim().split_once('=').expect("ENV k=v");
                rt.env.push((k.to_string(), v.to_string()));
            }
            "COPY" => {
                let from_builder = rest.contains("--from=");
                let parts: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|p| !p.starts_with("--"))
                    .collect();
                let (dest, sources) = parts.split_last().expect("COPY src dst");
                if from_builder {
                    rt.built.push(dest.to_string());
                } else {
                    for source in sources {
                        rt.copies.push((source.to_string(), dest.to_string()));
                    }
                }
            }
            "ENTRYPOINT" => rt.entrypoint = json_array(rest),
            "CMD" => rt.cmd = json_array(rest),
            "HEALTHCHECK" => {
                let (_, command) = rest.split_once("CMD ").expect("HEALTHCHECK ... CMD [...]");
                rt.healthcheck = json_array(command);
            }
            "STOPSIGNAL" => rt.stopsignal = rest.trim().to_string(),
            _ => {}
        }
    }
    rt
}

/// Where an absolute path of the image lives in the test's root (the binary is
/// the one under test).
fn host_path(root: &Path, image_path: &str) -> PathBuf {
    if image_path == "/usr/local/bin/drift-exporter" {
        return binary();
    }
    root.join(image_path.trim_start_matches('/'))
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn the_runtime_image_runs_outside_docker() {
    let rt = runtime_stage();
    assert!(rt.workdir.starts_with('/'), "{rt:?}");
    assert!(!rt.copies.is_empty() && !rt.entrypoint.is_empty(), "{rt:?}");
    assert_eq!(rt.stopsignal, "SIGTERM");
    let root = tempfile::tempdir().unwrap();
    let workdir = host_path(root.path(), &rt.workdir);
    // What the builder stage makes: the binary (the one under test) and folders.
    for dest in rt
        .built
        .iter()
        .filter(|d| host_path(root.path(), d) != binary())
    {
        std::fs::create_dir_all(host_path(root.path(), dest)).unwrap();
    }
    for (source, dest) in &rt.copies {
        let target = if dest.starts_with('/') {
            host_path(root.path(), dest)
        } else {
            workdir.join(dest)
        };
        copy_tree(&repo().join(source.trim_end_matches('/')), &target);
    }
    let mut args: Vec<String> = rt.entrypoint.clone();
    args.extend(rt.cmd.iter().cloned());
    let program = host_path(root.path(), &args[0]);
    assert_eq!(program, binary(), "the entrypoint is the binary");
    let mut cmd = Command::new(&program);
    cmd.args(&args[1..]).current_dir(&workdir);
    let mut state_file = None;
    for (k, v) in &rt.env {
        let value = if v.starts_with('/') {
            host_path(root.path(), v).display().to_string()
        } else {
            v.clone()
        };
        if k == "DRIFT_EXPORTER__STATE__PATH" {
            state_file = Some(PathBuf::from(&value));
        }
        cmd.env(k, value);
    }
    let state_file = state_file.expect("the image sets the state path");
    let daemon = Daemon::spawn(cmd);

    // The default config on the bundled samples: scores for every sample column.
    let scored = wait_until(Duration::from_secs(20), || {
        daemon.scrape().by_feature("drift_psi").len() == 8
    });
    assert!(scored, "{}", daemon.scrape().text);

    // The image's health check, pointed at the test's port as its comment says.
    let health = host_path(root.path(), &rt.healthcheck[0]);
    let status = Command::new(health)
        .args(&rt.healthcheck[1..])
        .args(["--address", &daemon.address])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "healthcheck failed against a healthy daemon"
    );

    // STOPSIGNAL: a clean exit that leaves the state in the image's state folder.
    daemon.stop();
    assert!(
        state_file.exists(),
        "no state file at {}",
        state_file.display()
    );
    assert!(state_file
        .with_extension("window")
        .join("manifest.json")
        .exists());
    // Nothing was written into the read-only parts (config, reference).
    let config_dir = workdir.join("config");
    let names: Vec<_> = std::fs::read_dir(&config_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "config folder holds only the config: {names:?}"
    );

    // With the daemon gone, the health check fails.
    let status = Command::new(binary())
        .args(&rt.healthcheck[1..])
        .args(["--address", &free_address(), "--timeout", "1"])
        .status()
        .unwrap();
    assert!(!status.success());
}
