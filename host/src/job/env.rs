//! The environment contract with agents: the variables ringmaster sets for
//! every process it starts for a job, and reads back when a job submits
//! sub-jobs (`ringmaster serve` inside an agent) or a hook relays an event.
//! Job specs may not set any `RINGMASTER_*` variable ([`super::bounds`]).

/// The job a process belongs to.
pub const JOB_ID: &str = "RINGMASTER_JOB_ID";
/// How deep in a tree of jobs the job is (a root is 0).
pub const DEPTH: &str = "RINGMASTER_DEPTH";
pub const ROOT_JOB_ID: &str = "RINGMASTER_ROOT_JOB_ID";
/// Which attempt of which job a process belongs to (`JOB_ID:N`), so what
/// escaped the attempt's process group can be found when it ends.
pub const ATTEMPT: &str = "RINGMASTER_ATTEMPT";
/// The root engine's socket, through which a job submits sub-jobs.
pub const SOCKET: &str = "RINGMASTER_SOCKET";
/// The job's key: what its processes prove they belong to it with on the
/// socket (whatever a request says, they act inside the job's own tree).
/// Secret: never stored, logged, or passed to hook commands.
pub const JOB_TOKEN: &str = "RINGMASTER_JOB_TOKEN";
