//! `ringmaster simulate --html FILE`: one self-contained page (inline SVG
//! and CSS, no script, nothing fetched) that shows how each policy used the
//! engine: the figures side by side, a timeline per policy (a lane per place
//! on each token slot, an attempt per bar, coloured by job tree), and the
//! distribution of waits per policy.

use super::metrics::{Summary, table};
use super::workload::Job;
use super::{Busy, Run};
use std::collections::HashMap;
use std::fmt::Write;

const WIDTH: f64 = 1000.0;
const LANE: f64 = 14.0;
/// Colours for policies' lines.
const POLICY_COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

pub fn page(jobs: &[Job], runs: &[Run], summaries: &[Summary]) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ringmaster simulate</title>\n<style>\
         body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}\
         pre{background:#f6f6f6;padding:12px}svg{background:#fff;border:1px solid #ddd}\
         .legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;\
         margin-right:4px;vertical-align:middle}</style></head><body>\n<h1>ringmaster simulate</h1>\n",
    );
    let _ = writeln!(html, "<h2>Figures</h2>\n<pre>{}</pre>", escape(&table(summaries)));
    let end = runs.iter().flat_map(|run| run.busy.iter().map(|b| b.to_ms)).max().unwrap_or(1).max(1);
    let trees = trees(jobs);
    for run in runs {
        let _ = writeln!(html, "<h2>Timeline: {}</h2>", escape(&run.policy));
        timeline(&mut html, jobs, run, end, &trees);
    }
    html.push_str("<h2>Waits (share of jobs that waited at most x)</h2>\n");
    waits(&mut html, runs);
    html.push_str("</body></html>\n");
    html
}

/// A lane per place: each slot's attempts packed onto the fewest lanes.
fn lanes(busy: &[Busy]) -> Vec<(usize, usize, Busy)> {
    let mut sorted = busy.to_vec();
    sorted.sort_by_key(|b| (b.slot, b.from_ms));
    let mut placed = Vec::with_capacity(sorted.len());
    let mut ends: Vec<Vec<u64>> = Vec::new();
    for b in sorted {
        if ends.len() <= b.slot {
            ends.resize(b.slot + 1, Vec::new());
        }
        let lanes = &mut ends[b.slot];
        let lane = match lanes.iter().position(|end| *end <= b.from_ms) {
            Some(lane) => lane,
            None => {
                lanes.push(0);
                lanes.len() - 1
            }
        };
        lanes[lane] = b.to_ms;
        placed.push((b.slot, lane, b));
    }
    placed
}

/// The trees, the biggest first, each with its job count and colour
/// (hues a golden angle apart, so neighbours differ).
fn trees(jobs: &[Job]) -> Vec<(&str, usize, String)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for job in jobs {
        *counts.entry(jobs[job.root].id.as_str()).or_default() += 1;
    }
    let mut trees: Vec<(&str, usize)> = counts.into_iter().collect();
    trees.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    trees
        .into_iter()
        .enumerate()
        .map(|(i, (tree, n))| (tree, n, format!("hsl({:.0},65%,52%)", (i as f64 * 137.508) % 360.0)))
        .collect()
}

fn timeline(html: &mut String, jobs: &[Job], run: &Run, end: u64, trees: &[(&str, usize, String)]) {
    let colour: HashMap<&str, &str> = trees.iter().map(|(tree, _, colour)| (*tree, colour.as_str())).collect();
    let placed = lanes(&run.busy);
    // Rows: slot by slot, lane by lane.
    let mut rows: Vec<(usize, usize)> = placed.iter().map(|(slot, lane, _)| (*slot, *lane)).collect();
    rows.sort_unstable();
    rows.dedup();
    let height = rows.len().max(1) as f64 * LANE + 24.0;
    let x = |ms: u64| 60.0 + (WIDTH - 70.0) * ms as f64 / end as f64;
    let _ = writeln!(html, "<svg width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">");
    for (row, (slot, lane)) in rows.iter().enumerate() {
        if *lane == 0 {
            let _ =
                writeln!(html, "<text x=\"4\" y=\"{}\" font-size=\"11\">slot {slot}</text>", row as f64 * LANE + 11.0);
        }
    }
    for (slot, lane, b) in &placed {
        let row = rows.binary_search(&(*slot, *lane)).expect("every row is listed");
        let job = &jobs[b.job];
        let tree = &jobs[job.root].id;
        let _ = writeln!(
            html,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"><title>{} (tree {}): {:.1} s</title></rect>",
            x(b.from_ms),
            row as f64 * LANE + 1.0,
            (x(b.to_ms) - x(b.from_ms)).max(0.5),
            LANE - 2.0,
            colour[tree.as_str()],
            escape(&job.id),
            escape(tree),
            (b.to_ms - b.from_ms) as f64 / 1000.0
        );
    }
    let axis = rows.len() as f64 * LANE + 16.0;
    let _ = writeln!(
        html,
        "<text x=\"60\" y=\"{axis}\" font-size=\"11\">0 s</text><text x=\"{}\" y=\"{axis}\" font-size=\"11\" \
         text-anchor=\"end\">{:.0} s</text></svg>",
        WIDTH - 10.0,
        end as f64 / 1000.0
    );
    // The biggest trees' colours.
    html.push_str("<div class=\"legend\">");
    for (tree, n, colour) in trees.iter().take(12) {
        let _ = write!(html, "<span><i style=\"background:{colour}\"></i>{} ({n} jobs)</span>", escape(tree));
    }
    html.push_str("</div>\n");
}

/// The cumulative distribution of waits, a line per policy.
fn waits(html: &mut String, runs: &[Run]) {
    let (w, h) = (WIDTH, 260.0);
    let waits: Vec<Vec<u64>> = runs
        .iter()
        .map(|run| {
            let mut waits: Vec<u64> = run.jobs.iter().filter_map(|j| j.started_ms.map(|s| s - j.arrived_ms)).collect();
            waits.sort_unstable();
            waits
        })
        .collect();
    let max = waits.iter().filter_map(|w| w.last()).max().copied().unwrap_or(1).max(1);
    let x = |ms: u64| 50.0 + (w - 70.0) * ms as f64 / max as f64;
    let y = |share: f64| h - 30.0 - (h - 50.0) * share;
    let _ = writeln!(html, "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">");
    let _ = writeln!(
        html,
        "<text x=\"50\" y=\"{}\" font-size=\"11\">0 s</text><text x=\"{}\" y=\"{}\" font-size=\"11\" \
         text-anchor=\"end\">{:.0} s</text><text x=\"4\" y=\"{}\" font-size=\"11\">100%</text>",
        h - 12.0,
        w - 20.0,
        h - 12.0,
        max as f64 / 1000.0,
        y(1.0) + 4.0
    );
    for (i, sorted) in waits.iter().enumerate() {
        let n = sorted.len().max(1) as f64;
        let points: Vec<String> =
            sorted.iter().enumerate().map(|(k, ms)| format!("{:.1},{:.1}", x(*ms), y((k + 1) as f64 / n))).collect();
        let _ = writeln!(
            html,
            "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"{}\" points=\"{:.1},{:.1} {}\"/>",
            POLICY_COLOURS[i % POLICY_COLOURS.len()],
            x(0),
            y(0.0),
            points.join(" ")
        );
    }
    html.push_str("</svg>\n<div class=\"legend\">");
    for (i, run) in runs.iter().enumerate() {
        let _ = write!(
            html,
            "<span><i style=\"background:{}\"></i>{}</span>",
            POLICY_COLOURS[i % POLICY_COLOURS.len()],
            escape(&run.policy)
        );
    }
    html.push_str("</div>\n");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
