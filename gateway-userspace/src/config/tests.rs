use std::path::Path;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-config-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn loads_agents_with_relative_policy_paths() {
    let dir = temp_dir("ok");
    write(
        &dir,
        "p.toml",
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"10.0.0.0/8\"]\n",
    );
    let cfg = write(
        &dir,
        "g.toml",
        "[gateway]\nlisten_port = 1234\n[[agents]]\nname = \"a\"\ncgroup = \"agents\"\npolicy = \"p.toml\"\n",
    );
    let config = Config::load(&cfg).unwrap();
    assert_eq!(config.listen_port, 1234);
    assert_eq!(config.agents[0].cgroup, Path::new("/agents"));
    assert_eq!(config.pin_dir, Path::new(DEFAULT_PIN_DIR));
}

#[test]
fn parse_error_names_line_and_column() {
    let dir = temp_dir("bad");
    let cfg = write(&dir, "g.toml", "[gateway]\nlisten_port = \"x\"\n");
    let err = Config::load(&cfg).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("column"), "{err}");
}

#[test]
fn refuses_nested_agent_cgroups() {
    let dir = temp_dir("nested");
    write(&dir, "p.toml", "");
    let cfg = write(
        &dir,
        "g.toml",
        "[[agents]]\nname = \"a\"\ncgroup = \"/x\"\npolicy = \"p.toml\"\n[[agents]]\nname = \"b\"\ncgroup = \"/x/y\"\npolicy = \"p.toml\"\n",
    );
    let err = Config::load(&cfg).unwrap_err().to_string();
    assert!(err.contains("must not nest"), "{err}");
}

#[test]
fn refuses_parent_dir_and_root() {
    assert!(normalise_cgroup(Path::new("/a/../b")).is_err());
    assert!(normalise_cgroup(Path::new("/")).is_err());
    assert_eq!(
        normalise_cgroup(Path::new("a/b")).unwrap(),
        Path::new("/a/b")
    );
}

#[test]
fn approvals_web_port_defaults_on_and_zero_turns_it_off() {
    let dir = temp_dir("web-port");
    write(&dir, "p.toml", "");
    let agent = "[[agents]]\nname = \"a\"\ncgroup = \"agents\"\npolicy = \"p.toml\"\n";
    let default = write(&dir, "d.toml", agent);
    assert_eq!(
        Config::load(&default).unwrap().approvals.web_port,
        Some(DEFAULT_WEB_PORT)
    );
    let set = write(
        &dir,
        "s.toml",
        &format!("[approvals]\nweb_port = 9999\n{agent}"),
    );
    assert_eq!(Config::load(&set).unwrap().approvals.web_port, Some(9999));
    let off = write(
        &dir,
        "o.toml",
        &format!("[approvals]\nweb_port = 0\n{agent}"),
    );
    assert_eq!(Config::load(&off).unwrap().approvals.web_port, None);
    let clash = write(
        &dir,
        "c.toml",
        &format!("[gateway]\nlisten_port = 9999\n[approvals]\nweb_port = 9999\n{agent}"),
    );
    let err = Config::load(&clash).unwrap_err().to_string();
    assert!(err.contains("web_port 9999"), "{err}");
}
