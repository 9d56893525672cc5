//! The setup of the story tests (issues 4 and 5): an agent cgroup whose
//! policy is the shipped `gmail` pack (read = allow, write = approve) plus
//! an allowed "paste site"; a Gmail stand-in (`gmail_standin.rs`) on
//! 10.233.N.2:443 that accepts only the real token; the token in the vault
//! (`gateway secret set GMAIL_TOKEN --host gmail.googleapis.com …`), and the
//! agent holding only the env file `gateway secret env` printed. The
//! gateway resolves both names through its static map, the agent's curl
//! through `--resolve`: nothing leaves the machine. Fields drop in order:
//! gateway first, cgroup and directories last.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::cgroup::AgentCgroup;
use crate::client::{Run, TimedCommand};
use crate::gateway::config::{ApprovalOptions, GatewayOptions};
use crate::gateway::{AGENT_NAME, Gateway, GatewayFiles};
use crate::gateway_ca::GatewayCa;
use crate::gmail_standin::{GMAIL_HOST, GmailStandIn};
use crate::https_clients::AgentSetup;
use crate::secrets::SecretCli;
use crate::tempdir::TempDir;
use crate::test_ca::TestCa;
use crate::topology::Topology;

/// The real Gmail token: only the gateway and the stand-in may ever see it.
pub const SECRET: &str = "ya29.REAL-gmail-oauth-token-5c2e9f41d7b3";
/// A host the token is not bound to, which the policy allows.
pub const PASTE_HOST: &str = "paste.test.example";
/// The agent's policy, as a user would write it.
pub const POLICY: &str = r#"[[rules]]
name = "mail"
pack = "gmail"
read = "allow"
write = "approve"
reason = "The agent wants to send mail"

[[rules]]
name = "paste"
action = "allow"
hosts = ["paste.test.example"]
"#;

pub struct GmailStory {
    pub gateway: Gateway,
    pub gmail: GmailStandIn,
    /// The gateway's CA and the resolve map the agent's curl gets.
    pub agents: AgentSetup,
    pub vault: SecretCli,
    /// What `gateway secret env --agent agent` printed, as a file.
    pub env_file: PathBuf,
    pub placeholder: String,
    pub gateway_ca: GatewayCa,
    pub topo: Topology,
    pub agent: AgentCgroup,
    /// Holds the gateway's state directory (`vault.state_dir`).
    pub state: TempDir,
    pub dir: TempDir,
}

impl GmailStory {
    /// Everything set up and the gateway ready; `web_port` turns the page on.
    pub fn start(tag: &str, web_port: Option<u16>) -> Self {
        crate::preflight::require_root_and_gateway();
        let dir = TempDir::new(tag);
        let state = TempDir::new(&format!("{tag}-state"));
        let vault = SecretCli::new(&state.path().join("gateway"));
        vault.set(
            "GMAIL_TOKEN",
            &[
                "--host",
                GMAIL_HOST,
                "--agent",
                AGENT_NAME,
                "--header",
                "Authorization: Bearer {}",
            ],
            SECRET,
        );
        let env = vault
            .command(&["env", "--agent", AGENT_NAME])
            .run()
            .expect_success("gateway secret env");
        let env_file = dir.write("agent.env", &env.stdout);
        let placeholder = vault.placeholder(AGENT_NAME, "GMAIL_TOKEN");

        let agent = AgentCgroup::new(tag);
        let topo = Topology::new();
        let test_ca = TestCa::new("gateway story upstream CA");
        let upstream_ca = test_ca.write_pem(dir.path(), "upstream-ca.pem");
        let gateway_ca = GatewayCa::init(&dir.path().join("gateway-ca"));
        let gmail = GmailStandIn::start_in(
            topo.upstream_ns(),
            test_ca.issue(&[GMAIL_HOST, PASTE_HOST]),
            SECRET,
        );
        let ip = IpAddr::V4(topo.upstream_v4());
        let mut options = GatewayOptions {
            ca_dir: Some(gateway_ca.dir().to_owned()),
            upstream_ca_file: Some(upstream_ca),
            state_dir: Some(vault.state_dir.clone()),
            web_port,
            approvals: Some(ApprovalOptions {
                hold_seconds: Some(90),
                ..ApprovalOptions::default()
            }),
            ..GatewayOptions::default()
        };
        options
            .hosts
            .extend([GMAIL_HOST, PASTE_HOST].map(|n| (n.to_owned(), vec![ip])));
        let files = GatewayFiles::write_with(tag, agent.relative(), POLICY, &options);
        // The shipped pack, as is, beside the policy.
        let pack = crate::preflight::repo_root().join("policies/packs/gmail.toml");
        let pack = std::fs::read_to_string(&pack)
            .unwrap_or_else(|e| panic!("reading {}: {e}", pack.display()));
        std::fs::create_dir_all(files.dir.path().join("packs")).expect("packs directory");
        files.dir.write("packs/gmail.toml", &pack);
        let gateway = Gateway::start_from(files);
        let agents = AgentSetup {
            ca_file: Some(gateway_ca.cert()),
            resolve: [GMAIL_HOST, PASTE_HOST]
                .iter()
                .map(|n| ((*n).to_owned(), ip))
                .collect::<BTreeMap<_, _>>(),
        };
        Self {
            gateway,
            gmail,
            agents,
            vault,
            env_file,
            placeholder,
            gateway_ca,
            topo,
            agent,
            state,
            dir,
        }
    }

    /// The agent's curl, in its cgroup, with its env file loaded (`set -a;
    /// . agent.env`); with `token`, `Authorization: Bearer $GMAIL_TOKEN`.
    /// `body` is sent as JSON. Prints what [`AgentSetup::curl`] prints.
    pub fn agent_curl(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
        token: bool,
    ) -> TimedCommand {
        let script = if token {
            r#"set -a; . "$0"; set +a; exec curl -H "Authorization: Bearer $GMAIL_TOKEN" "$@""#
        } else {
            r#"set -a; . "$0"; set +a; exec curl "$@""#
        };
        let mut cmd = TimedCommand::new("sh")
            .args(["-c", script])
            .arg(&self.env_file)
            .args(["-sS", "--noproxy", "*", "--max-time", "120", "-X", method])
            .args(["-w", "\n%{http_code} %{http_version} %{content_type}\n"]);
        if let Some(ca) = &self.agents.ca_file {
            cmd = cmd.arg("--cacert").arg(ca);
        }
        for (name, ip) in &self.agents.resolve {
            cmd = cmd.arg("--resolve").arg(format!("{name}:443:{ip}"));
        }
        if let Some(body) = body {
            cmd = cmd
                .args(["-H", "content-type: application/json", "--data-binary"])
                .arg(body);
        }
        cmd.arg(url)
            .in_cgroup(self.agent.path())
            .timeout(Duration::from_secs(150))
    }

    /// The agent's send request on a thread (it is held); join for the run.
    pub fn send_held(&self, body: &str) -> JoinHandle<Run> {
        let url = format!("https://{GMAIL_HOST}{}", crate::gmail_standin::SEND_PATH);
        let cmd = self.agent_curl("POST", &url, Some(body), true);
        std::thread::spawn(move || cmd.run())
    }
}
