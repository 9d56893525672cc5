//! The setup of the interception tests: an agent cgroup, the topology, an
//! HTTPS upstream on 10.233.N.2:443 with a certificate from the test CA for
//! the names below, the gateway's CA (`gateway ca init`), and a gateway that
//! trusts the test CA for upstreams and resolves the names through its
//! static map (or a DNS server in the upstream namespace). Fields drop in
//! order: gateway first, cgroup last.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use crate::cgroup::AgentCgroup;
use crate::client::Run;
use crate::dns_server::DnsServer;
use crate::gateway::config::{ApprovalOptions, GatewayOptions, Rule, policy_toml};
use crate::gateway::{AGENT_NAME, Gateway, GatewayFiles};
use crate::gateway_ca::GatewayCa;
use crate::git_repo::GitRepo;
use crate::https_clients::{AgentSetup, Reply};
use crate::https_upstream::HttpsUpstream;
use crate::tempdir::TempDir;
use crate::test_ca::TestCa;
use crate::topology::Topology;

/// The upstream's main name.
pub const API_HOST: &str = "api.test.example";
/// Where the git repository is served (`/repo.git`).
pub const GIT_HOST: &str = "git.test.example";
/// Another name of the same upstream.
pub const OTHER_HOST: &str = "other.test.example";
/// Names covered by the upstream's wildcard `*.svc.test.example`.
pub const SVC_HOSTS: [&str; 2] = ["one.svc.test.example", "two.svc.test.example"];
/// Every name the gateway and the agents resolve to the upstream.
pub const UPSTREAM_NAMES: [&str; 5] = [API_HOST, GIT_HOST, OTHER_HOST, SVC_HOSTS[0], SVC_HOSTS[1]];
/// Names in the upstream's certificate.
const CERT_NAMES: [&str; 4] = [API_HOST, GIT_HOST, OTHER_HOST, "*.svc.test.example"];

pub struct HttpsScenario {
    pub gateway: Gateway,
    pub upstream: HttpsUpstream,
    pub dns: Option<DnsServer>,
    /// The CA (the gateway's) and resolve map every agent gets.
    pub agents: AgentSetup,
    pub gateway_ca: GatewayCa,
    pub test_ca: TestCa,
    pub git: Option<GitRepo>,
    pub topo: Topology,
    /// A second agent (see [`HttpsScenarioBuilder::second_agent`]).
    pub second_agent: Option<AgentCgroup>,
    pub agent: AgentCgroup,
    pub dir: TempDir,
}

pub struct HttpsScenarioBuilder {
    tag: String,
    policy: String,
    packs: Vec<(String, String)>,
    second: Option<(String, String)>,
    dns: bool,
    git: bool,
    state_dir: Option<std::path::PathBuf>,
    approvals: Option<ApprovalOptions>,
}

impl HttpsScenario {
    pub fn builder(tag: &str) -> HttpsScenarioBuilder {
        HttpsScenarioBuilder {
            tag: tag.to_owned(),
            policy: String::new(),
            packs: Vec::new(),
            second: None,
            dns: false,
            git: false,
            state_dir: None,
            approvals: None,
        }
    }

    /// The common case: `rules` as the policy, the static host map.
    pub fn start(tag: &str, rules: &[Rule]) -> Self {
        Self::builder(tag).rules(rules).start()
    }

    /// `https://<host><path_and_query>`
    pub fn url(host: &str, path_and_query: &str) -> String {
        format!("https://{host}{path_and_query}")
    }

    /// 10.233.N.2:443, where the upstream listens and every name points.
    pub fn upstream_addr(&self) -> SocketAddr {
        SocketAddr::new(self.topo.upstream_v4().into(), self.upstream.port())
    }

    /// The agent's GET of `url` with curl, from its cgroup: the reply.
    pub fn get(&self, url: &str) -> Reply {
        let run = self
            .agents
            .curl(url)
            .arg(url)
            .in_cgroup(self.agent.path())
            .run();
        self.curl_reply(&run)
    }

    /// curl's reply (see [`crate::https_clients::curl_reply`]); if curl
    /// failed, panics with its output and the gateway's log.
    pub fn curl_reply(&self, run: &Run) -> Reply {
        assert!(
            run.success(),
            "curl failed: {run:#?}\n{}",
            self.gateway.dump()
        );
        crate::https_clients::curl_reply(run)
    }

    /// Rewrites the agent's policy file (the gateway reloads it).
    pub fn write_policy(&self, text: &str) {
        let path = self.gateway.policy_path();
        // Write then rename: the reloader never sees half a file.
        let tmp = path.with_extension("toml.new");
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
        std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("replacing the policy: {e}"));
    }
}

impl HttpsScenarioBuilder {
    #[must_use]
    pub fn rules(mut self, rules: &[Rule]) -> Self {
        self.policy = policy_toml(rules);
        self
    }

    /// The policy file's text as is.
    #[must_use]
    pub fn policy_text(mut self, text: &str) -> Self {
        text.clone_into(&mut self.policy);
        self
    }

    /// A second agent `name`, in a cgroup of its own, with `rules` as its policy.
    #[must_use]
    pub fn second_agent(mut self, name: &str, rules: &[Rule]) -> Self {
        self.second = Some((name.to_owned(), policy_toml(rules)));
        self
    }

    /// A policy pack `packs/<name>.toml` next to the policy file.
    #[must_use]
    pub fn pack(mut self, name: &str, text: &str) -> Self {
        self.packs.push((name.to_owned(), text.to_owned()));
        self
    }

    /// Resolve through a DNS server in the upstream namespace instead of the static map.
    #[must_use]
    pub fn dns(mut self) -> Self {
        self.dns = true;
        self
    }

    /// The gateway's state directory (its vault), instead of one of its own.
    #[must_use]
    pub fn state_dir(mut self, dir: &std::path::Path) -> Self {
        self.state_dir = Some(dir.to_owned());
        self
    }

    /// `[approvals]` settings for the gateway.
    #[must_use]
    pub fn approvals(mut self, approvals: ApprovalOptions) -> Self {
        self.approvals = Some(approvals);
        self
    }

    /// Serve a git repository at `https://git.test.example/repo.git`.
    #[must_use]
    pub fn git(mut self) -> Self {
        self.git = true;
        self
    }

    pub fn start(self) -> HttpsScenario {
        crate::preflight::require_root_and_gateway();
        let dir = TempDir::new(&self.tag);
        let agent = AgentCgroup::new(&self.tag);
        let topo = Topology::new();
        let test_ca = TestCa::new("gateway tests upstream CA");
        let upstream_ca = test_ca.write_pem(dir.path(), "upstream-ca.pem");
        let gateway_ca = GatewayCa::init(&dir.path().join("gateway-ca"));
        let git = self.git.then(|| GitRepo::new(&format!("{}-git", self.tag)));
        let mut upstream = HttpsUpstream::builder(test_ca.issue(&CERT_NAMES));
        if let Some(git) = &git {
            upstream = upstream.serve_dir("/repo.git", git.bare());
        }
        let upstream = upstream.start_in(topo.upstream_ns());
        let ip = IpAddr::V4(topo.upstream_v4());
        let mut options = GatewayOptions {
            ca_dir: Some(gateway_ca.dir().to_owned()),
            upstream_ca_file: Some(upstream_ca),
            state_dir: self.state_dir.clone(),
            approvals: self.approvals,
            ..GatewayOptions::default()
        };
        let dns = self.dns.then(|| {
            let records: Vec<(&str, IpAddr)> = UPSTREAM_NAMES.iter().map(|n| (*n, ip)).collect();
            let server = DnsServer::start_in(topo.upstream_ns(), SocketAddr::new(ip, 53), &records);
            options.hosts.clear();
            options.nameservers = vec![server.addr()];
            server
        });
        if dns.is_none() {
            options
                .hosts
                .extend(UPSTREAM_NAMES.iter().map(|n| ((*n).to_owned(), vec![ip])));
        }
        let second_agent = self
            .second
            .as_ref()
            .map(|_| AgentCgroup::new(&format!("{}-2", self.tag)));
        let mut agents = vec![(AGENT_NAME, agent.relative(), self.policy.as_str())];
        if let (Some((name, policy)), Some(cgroup)) = (&self.second, &second_agent) {
            agents.push((name.as_str(), cgroup.relative(), policy.as_str()));
        }
        let files = GatewayFiles::write_agents(&self.tag, &agents, &options);
        if !self.packs.is_empty() {
            let packs = files.dir.path().join("packs");
            std::fs::create_dir_all(&packs).expect("creating the packs directory");
            for (name, text) in &self.packs {
                files.dir.write(&format!("packs/{name}.toml"), text);
            }
        }
        let gateway = Gateway::start_from(files);
        let agents = AgentSetup {
            ca_file: Some(gateway_ca.cert()),
            resolve: UPSTREAM_NAMES
                .iter()
                .map(|n| ((*n).to_owned(), ip))
                .collect::<BTreeMap<_, _>>(),
        };
        HttpsScenario {
            gateway,
            upstream,
            dns,
            agents,
            gateway_ca,
            test_ca,
            git,
            topo,
            second_agent,
            agent,
            dir,
        }
    }
}
