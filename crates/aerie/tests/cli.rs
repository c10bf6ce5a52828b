//! The appliance CLI against a real running daemon: interactively through a
//! pseudo-terminal, and one-shot with `-c`.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const AERIE: &str = env!("CARGO_BIN_EXE_aerie");

/// A daemon named `cm-cli` in `dir`, stopped on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(dir: &Path) -> Daemon {
    let child = Command::new(AERIE)
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("AERIE_ADMIN_PASSWORD", "cli-test-password")
        .env("AERIE_HOSTNAME", "cm-cli")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.join("admin.sock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the admin socket appears");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon(child)
}

/// Runs `aerie cli -c …`; returns the exit status, stdout and stderr.
fn one_shot(dir: &Path, lines: &[&str], stdin: &str) -> (bool, String, String) {
    let mut cmd = Command::new(AERIE);
    cmd.args(["cli", "--data-dir"]).arg(dir);
    for line in lines {
        cmd.args(["-c", line]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn interactive_shell_in_a_pseudo_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let _daemon = daemon(dir.path());
    let mut cmd = Command::new(AERIE);
    cmd.args(["cli", "--data-dir"])
        .arg(dir.path())
        .env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();

    p.exp_string("cm-cli# ").unwrap();
    p.send_line("cm").unwrap();
    p.exp_string("Entering the Central Manager configuration mode...")
        .unwrap();
    p.exp_string("cm-cli(cm)# ").unwrap();

    // `?` after a partial command lists what follows, then gives the line back.
    p.send_line("set mcm ?").unwrap();
    p.exp_string("ip        Set the IP address of the Manager of Central Managers")
        .unwrap();
    p.exp_string("resync    Resync with MCM").unwrap();
    p.exp_string("remove    Remove entire MCM config").unwrap();
    p.exp_string("cm-cli(cm)# set mcm ").unwrap();
    p.send_line("ip 127.0.0.1 ?").unwrap();
    p.exp_string("passphrase  Set the device key passphrase for MCM")
        .unwrap();
    p.exp_string("cm-cli(cm)# set mcm ip 127.0.0.1 ").unwrap();
    p.send_control('u').unwrap();
    p.send_line("").unwrap();
    p.exp_string("cm-cli(cm)# ").unwrap();

    // Enter on an incomplete command lists the next keywords too.
    p.send_line("set mcm").unwrap();
    p.exp_string("remove    Remove entire MCM config").unwrap();
    p.exp_string("cm-cli(cm)# ").unwrap();

    // Tab completes keywords.
    p.send("sh\t").unwrap();
    p.flush().unwrap();
    p.exp_string("show ").unwrap();
    p.send("mc\t").unwrap();
    p.flush().unwrap();
    p.exp_string("show mcm ").unwrap();
    p.send_line("").unwrap();
    p.exp_string("MCM is not configured").unwrap();
    p.exp_string("cm-cli(cm)# ").unwrap();

    // A quoted value with spaces; the passphrase never reaches history.
    p.send_line("set mcm ip 127.0.0.9:1 passphrase \"my secret pass\"")
        .unwrap();
    p.exp_string("MCM unreachable at https://127.0.0.9:1")
        .unwrap();
    p.exp_string("cm-cli(cm)# ").unwrap();
    p.send_line("set mcm ip 1.2.3 passphrase whatever1")
        .unwrap();
    p.exp_string("error: \"1.2.3\" is not an MCM address")
        .unwrap();
    p.exp_string("cm-cli(cm)# ").unwrap();
    p.send_line("history").unwrap();
    p.exp_string("set mcm ip 127.0.0.9:1 passphrase ******")
        .unwrap();
    p.exp_string("history").unwrap();
    p.exp_string("cm-cli(cm)# ").unwrap();

    // exit leaves the mode, then the CLI.
    p.send_line("exit").unwrap();
    p.exp_string("cm-cli# ").unwrap();
    p.send_line("exit").unwrap();
    p.exp_eof().unwrap();
    let dump = std::fs::read_to_string(dir.path().join("aerie.db")).unwrap_or_default();
    assert!(
        !dump.contains("my secret pass"),
        "the passphrase is not stored in clear"
    );
}

#[test]
fn one_shot_commands_reach_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let _daemon = daemon(dir.path());
    let d = dir.path();

    let (ok, out, _) = one_shot(d, &["show version", "show hostname", "show fips"], "");
    assert!(ok);
    assert!(
        out.contains("Aerie version") && out.contains("device type: cm"),
        "{out}"
    );
    assert!(out.contains("Hostname: cm-cli"), "{out}");
    assert!(
        out.contains("FIPS mode: disabled") && out.contains("not the FIPS 140-3 validated build"),
        "{out}"
    );

    let (ok, out, _) = one_shot(d, &["set hostname cm-paris", "show hostname"], "");
    assert!(ok && out.contains("Hostname: cm-paris"), "{out}");
    let (ok, _, err) = one_shot(d, &["set hostname bad_name!"], "");
    assert!(!ok && err.contains("is not a valid host name"), "{err}");

    let (ok, _, err) = one_shot(d, &["set fips enable"], "");
    assert!(!ok && err.contains("add the word 'confirm'"), "{err}");
    let (ok, out, _) = one_shot(d, &["set fips enable confirm", "show fips"], "");
    assert!(ok && out.contains("FIPS mode: enabled"), "{out}");

    let (ok, out, _) = one_shot(
        d,
        &["set user bob password", "show users"],
        "bobs-password\n",
    );
    assert!(
        ok && out.contains("User bob created with the admin role"),
        "{out}"
    );
    assert!(out.contains("bob") && out.contains("admin"), "{out}");
    let (ok, _, err) = one_shot(d, &["set user bob password"], "short\n");
    assert!(!ok && err.contains("at least 8 characters"), "{err}");

    // Modes carry over between -c lines, and the first error stops the run.
    let (ok, out, err) = one_shot(
        d,
        &["cm", "show incidents 5", "set mcm frob", "show mcm"],
        "",
    );
    assert!(!ok);
    assert!(
        out.contains("ENDPOINT") && !out.contains("MCM is not configured"),
        "{out}"
    );
    assert!(
        err.contains("unknown word \"frob\" — expected one of: ip, resync, remove"),
        "{err}"
    );
    let (ok, _, err) = one_shot(d, &["set mcm resync"], "");
    assert!(
        !ok && err.contains("unknown word \"mcm\""),
        "set mcm is a cm-mode command: {err}"
    );
    let (ok, out, _) = one_shot(d, &["cm", "help"], "");
    assert!(
        ok && out.contains("Central Manager configuration") && out.contains("history"),
        "{out}"
    );
}

#[test]
fn without_a_daemon_the_cli_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = one_shot(dir.path(), &["show version"], "");
    assert!(!ok);
    assert!(err.contains("the aerie daemon is not running"), "{err}");
    assert!(
        err.contains(&format!("aerie serve --data-dir {}", dir.path().display())),
        "{err}"
    );
}
