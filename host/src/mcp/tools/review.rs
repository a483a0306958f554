//! Reviewing what a job changed: `job_diff`, `job_merge`, `job_discard`,
//! `checkpoint_restore` (see `crate::engine`'s `review.rs`).

use crate::job::workspace::DiffRequest;
use crate::mcp::args::{DiffArgs, JobIdArgs, MergeArgs, RestoreArgs};
use crate::mcp::server::{Ringmaster, failed, ok};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{ErrorData, tool, tool_router};

#[tool_router(router = review_tools, vis = "pub(super)")]
impl Ringmaster {
    #[tool(description = "The unified diff of what a job changed: for isolation: worktree, its branch against its \
                          base commit (while it runs, its worktree's files as they are); for checkpoint: true, the \
                          project before and after it. Paged: pass next_offset back as offset for more. Optional \
                          path (one file or directory) and context (lines).")]
    async fn job_diff(&self, Parameters(args): Parameters<DiffArgs>) -> Result<CallToolResult, ErrorData> {
        let request =
            DiffRequest { path: args.path, context: args.context, offset: args.offset, max_bytes: args.max_bytes };
        match self.diff(&args.job_id, request).await {
            Ok(diff) => {
                let more = match diff.next_offset {
                    Some(next) => format!("\n[more: call again with offset {next}]"),
                    None => String::new(),
                };
                let text = match diff.text.is_empty() {
                    true => format!("no changes{more}"),
                    false => format!("{}{more}", diff.text),
                };
                ok(text, &diff)
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Merge a finished worktree job's branch into the project: strategy merge (a merge \
                          commit, default), squash (one commit) or rebase (its commits on top); into: a branch \
                          (default: the project's current branch, whose files are updated). A conflict, or \
                          uncommitted changes in the way, is refused with the paths and changes nothing. The \
                          worktree is removed; the branch is kept. Returns the job's record.")]
    async fn job_merge(&self, Parameters(args): Parameters<MergeArgs>) -> Result<CallToolResult, ErrorData> {
        match self.merge(&args.job_id, args.strategy, args.into).await {
            Ok(record) => {
                let merged = record.workspace.as_ref().and_then(|w| w.merged.as_ref());
                let text = merged.map_or_else(String::new, |m| {
                    format!("merged job {} into {} ({})", record.job_id, m.into, m.commit)
                });
                ok(text, &record)
            }
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Throw away a finished worktree job's work: its worktree and its branch are deleted. \
                          Returns the job's record.")]
    async fn job_discard(&self, Parameters(args): Parameters<JobIdArgs>) -> Result<CallToolResult, ErrorData> {
        match self.discard(&args.job_id).await {
            Ok(record) => ok(format!("discarded the work of job {}", record.job_id), &record),
            Err(err) => failed(err),
        }
    }

    #[tool(description = "Put the project's files (tracked, and untracked ones not ignored) back as they were \
                          before a finished checkpoint: true job (which: before), or as it left them (which: \
                          after). Refused when they changed since, unless force. The git index and ignored files \
                          are not touched. Returns the paths written or removed.")]
    async fn checkpoint_restore(&self, Parameters(args): Parameters<RestoreArgs>) -> Result<CallToolResult, ErrorData> {
        match self.restore(&args.job_id, args.which, args.force).await {
            Ok(restored) => ok(
                format!(
                    "restored the project to job {}'s checkpoint {} ({} paths)",
                    restored.job_id,
                    restored.which.as_str(),
                    restored.paths.len()
                ),
                &restored,
            ),
            Err(err) => failed(err),
        }
    }
}
