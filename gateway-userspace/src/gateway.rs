//! Starting a gateway instance: listeners, kernel programs, attachment.
//! Used by both `gateway run` and `gateway exec`.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};

use crate::{
    admin::server::AdminError,
    agent::{Agent, Agents},
    approval_web::{self, RunningWeb, WebError},
    approvals::desk::ApprovalDesk,
    approvals::store::{ApprovalStore, StoreError, spawn_cleanup},
    audit::{AuditError, AuditLog},
    bpf::{
        BpfError, Enforcer, KernelLogLevel,
        pins::{self, PinDir},
    },
    cgroup::{Cgroup, CgroupError, CgroupRoot},
    config::Config,
    credentials::Credentials,
    dns::DnsResponder,
    intercept::{InterceptError, Interceptor},
    kernel_log::KernelLogDrain,
    listeners::Listeners,
    netns::{self, NetnsError},
    own_ports::OwnPorts,
    policy::store::{PolicyStore, spawn_reloader},
    proxy::{DEFAULT_DETECT_WAIT, OriginalDstSource, Proxy},
    resolve::{ResolveError, Resolver},
    state::{self, StateError},
    vault::{
        VaultError,
        store::{VaultStore, spawn_reloader as spawn_vault_reloader},
    },
    workers::{self, Workers, WorkersError},
};

/// How often policy files are checked for changes.
const POLICY_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How often the vault file is checked for changes (`gateway secret set`).
const VAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How often approvals past their time are expired.
const APPROVALS_CLEANUP_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Bpf(#[from] BpfError),
    #[error("draining the kernel programs' log: {0}")]
    KernelLog(std::io::Error),
    #[error(transparent)]
    Intercept(#[from] InterceptError),
    #[error(transparent)]
    Resolver(#[from] ResolveError),
    #[error("opening the vault: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Workers(#[from] WorkersError),
    #[error(transparent)]
    Web(#[from] WebError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("opening the audit log: {0}")]
    Audit(#[from] AuditError),
    #[error("opening the approvals store: {0}")]
    Approvals(#[from] StoreError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(
        "the gateway itself is in cgroup {own}, inside agent {agent:?} (cgroup {cgroup}); run it outside the agent cgroups, or its own connections would be redirected"
    )]
    InsideAgent {
        own: PathBuf,
        agent: String,
        cgroup: PathBuf,
    },
}

/// A started gateway. Dropping it stops serving; the pinned programs stay
/// attached, so agents fail closed until `gateway detach`.
pub struct Running {
    pub listen_port: u16,
    pub pin_dir: PathBuf,
    /// Where the approvals web page listens, when it is on.
    pub web_addr: Option<std::net::SocketAddr>,
    _web: Option<RunningWeb>,
    _enforcer: Enforcer,
    listeners_task: tokio::task::JoinHandle<std::io::Result<()>>,
    kernel_log: Option<KernelLogDrain>,
    reloader: tokio::task::JoinHandle<()>,
    vault_reloader: tokio::task::JoinHandle<()>,
    workers: Arc<Workers>,
    admin: tokio::task::JoinHandle<()>,
    cleanup: tokio::task::JoinHandle<()>,
    audit: AuditLog,
}

impl Running {
    /// Stops serving, after forwarding the kernel's last log lines.
    pub async fn stop(mut self) {
        self.listeners_task.abort();
        self.reloader.abort();
        self.vault_reloader.abort();
        self.workers.shutdown();
        self.admin.abort();
        self.cleanup.abort();
        self.audit.sync().await;
        if let Some(kernel_log) = self.kernel_log.take() {
            kernel_log.stop().await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.listeners_task.abort();
        self.reloader.abort();
        self.vault_reloader.abort();
        self.workers.shutdown();
        self.admin.abort();
        self.cleanup.abort();
    }
}

/// Starts serving `config`; call it from within a tokio runtime. On error
/// nothing is left attached by this attempt (an earlier instance's pins,
/// if any, are left as they were). With `[approvals] web_port` set, the
/// approvals web page is served too.
pub fn start(
    config: &Config,
    root: &CgroupRoot,
    kernel_log: KernelLogLevel,
) -> Result<Running, StartError> {
    let cgroups = open_agent_cgroups(config, root)?;
    let host_listeners = netns::listen_here(config.listen_port)?;
    let listen_port = host_listeners.port();
    let mut enforcer = Enforcer::load(listen_port, kernel_log)?;
    let (agents, reloadable) = bind_agents(config, &cgroups, &mut enforcer)?;
    let resolver = Resolver::new(&config.resolver)?;
    let state = open_state(config)?;
    let workers = Arc::new(Workers::start(workers::count()?)?);
    let own_ports = OwnPorts::new(
        [Some(listen_port), config.approvals.web_port]
            .into_iter()
            .flatten(),
    );
    let interceptor = Interceptor::new(
        &config.tls,
        &resolver,
        workers.count(),
        Arc::clone(&state.credentials),
        state.audit.clone(),
        Arc::clone(&state.approvals),
        &own_ports,
    )?;
    let (vault, audit, approvals, credentials) =
        (state.vault, state.audit, state.approvals, state.credentials);
    let admin = crate::admin::server::serve(
        &state::admin_socket_path(&config.db_dir),
        Arc::clone(&approvals),
        audit.clone(),
    )?;
    let cleanup = spawn_cleanup(Arc::clone(&approvals), APPROVALS_CLEANUP_INTERVAL);
    tracing::info!(db = %state::db_path(&config.db_dir).display(), "approvals and audit database open");
    let events = enforcer.take_netns_events()?;
    let kernel_log =
        KernelLogDrain::spawn(enforcer.take_logger()?).map_err(StartError::KernelLog)?;

    let agents = Arc::new(agents);
    let dns = Arc::new(DnsResponder {
        agents: Arc::clone(&agents),
        resolver,
        credentials,
    });
    let proxy = Arc::new(Proxy {
        agents,
        original_dst: Arc::clone(&enforcer.maps) as Arc<dyn OriginalDstSource>,
        interceptor: Some(Arc::new(interceptor)),
        detect_wait: DEFAULT_DETECT_WAIT,
        workers: Arc::clone(&workers),
        own_ports,
    });
    let mut listeners = Listeners::new(
        listen_port,
        proxy,
        dns,
        Arc::clone(&enforcer.maps),
        cgroups.clone(),
    );
    listeners.add(host_listeners, true)?;
    let web = match config.approvals.web_port {
        Some(port) => Some(approval_web::serve(
            approvals as Arc<dyn ApprovalDesk>,
            port,
            &config.state_dir.join(approval_web::TOKEN_FILE),
        )?),
        None => None,
    };

    let pins = PinDir::prepare(&config.pin_dir).map_err(BpfError::from)?;
    let generation = generation();
    attach_all(&enforcer, &cgroups, &pins, &generation)?;
    // The new programs are in place: only now let go of the old ones.
    let older = pins.older_than(&generation).map_err(BpfError::from)?;
    if !older.is_empty() {
        tracing::info!(
            count = older.len(),
            "replacing the programs of an earlier gateway"
        );
        pins::remove(&older).map_err(BpfError::from)?;
    }

    let listeners_task = tokio::spawn(listeners.run(events));
    let reloader = spawn_reloader(reloadable, POLICY_POLL_INTERVAL);
    let vault_reloader = spawn_vault_reloader(vault, VAULT_POLL_INTERVAL);
    for (agent, cgroup) in config.agents.iter().zip(&cgroups) {
        tracing::info!(agent = %agent.name, cgroup = %cgroup.dir.display(), cgroup_id = cgroup.id, "agent attached");
    }
    Ok(Running {
        listen_port,
        pin_dir: config.pin_dir.clone(),
        web_addr: web.as_ref().map(|w| w.addr),
        _web: web,
        _enforcer: enforcer,
        listeners_task,
        kernel_log: Some(kernel_log),
        reloader,
        vault_reloader,
        workers,
        admin,
        cleanup,
        audit,
    })
}

/// What the gateway keeps in `state_dir`: the vault, and the database of
/// approvals and the audit log.
struct State {
    vault: Arc<VaultStore>,
    credentials: Arc<Credentials>,
    audit: AuditLog,
    approvals: Arc<ApprovalStore>,
}

fn open_state(config: &Config) -> Result<State, StartError> {
    let names = config
        .agents
        .iter()
        .map(|a| Arc::from(a.name.as_str()))
        .collect();
    // The root-only directory first: the vault is read from it.
    state::prepare_dir(&config.state_dir)?;
    let vault = VaultStore::open(config.state_dir.clone(), names)?;
    let db = state::open_db(&config.db_dir)?;
    let audit = AuditLog::open(&db)?;
    let credentials = Arc::new(Credentials::new(Arc::clone(&vault), audit.clone()));
    let approvals = ApprovalStore::open(&db, audit.clone(), config.approvals.clone())?;
    Ok(State {
        vault,
        credentials,
        audit,
        approvals,
    })
}

/// The agents' cgroups, refusing a gateway that runs inside one.
fn open_agent_cgroups(config: &Config, root: &CgroupRoot) -> Result<Vec<Cgroup>, StartError> {
    let own = CgroupRoot::own_cgroup()?;
    let mut cgroups = Vec::with_capacity(config.agents.len());
    for agent in &config.agents {
        if own.starts_with(&agent.cgroup) {
            return Err(StartError::InsideAgent {
                own,
                agent: agent.name.clone(),
                cgroup: agent.cgroup.clone(),
            });
        }
        cgroups.push(root.open(&agent.cgroup)?);
    }
    Ok(cgroups)
}

/// Registers each agent with its policy and tells the kernel programs
/// which cgroup is which agent. Returns the policies read from files,
/// for hot reload.
fn bind_agents(
    config: &Config,
    cgroups: &[Cgroup],
    enforcer: &mut Enforcer,
) -> Result<(Agents, Vec<Arc<PolicyStore>>), StartError> {
    let mut agents = Agents::default();
    let mut reloadable = Vec::new();
    for (agent, cgroup) in config.agents.iter().zip(cgroups) {
        let store = PolicyStore::new(
            agent.policy_path.clone().unwrap_or_default(),
            agent.policy.clone(),
        );
        if agent.policy_path.is_some() {
            reloadable.push(Arc::clone(&store));
        }
        let id = agents.add(Agent {
            name: agent.name.as_str().into(),
            policy: store,
        });
        enforcer.bind_agent(cgroup, id)?;
    }
    Ok((agents, reloadable))
}

fn attach_all(
    enforcer: &Enforcer,
    cgroups: &[Cgroup],
    pins: &PinDir,
    generation: &str,
) -> Result<(), StartError> {
    let mut made = Vec::new();
    for cgroup in cgroups {
        match enforcer.attach(cgroup, pins, generation) {
            Ok(paths) => made.extend(paths),
            Err(error) => {
                // Nothing half-done: undo this attempt's pins.
                let _ = pins::remove(&made);
                return Err(error.into());
            }
        }
    }
    Ok(())
}

/// Distinguishes this instance's pins from an earlier one's.
fn generation() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}")
}
