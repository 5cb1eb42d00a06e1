//! Stats leave the engine as one array of numbers, one of 32-bit integers and one string,
//! decoded in TypeScript.
//!
//! Strings are referenced by (offset, length) in UTF-16 code units, so the reader slices the
//! one string it received without decoding anything else. Ids, places and flags go in the
//! integers, times and counts in the numbers: a read's cost is mostly the fresh pages it
//! writes, and a function row takes 84 bytes this way against 120 as numbers only. Layouts
//! are versioned; the TS decoder checks the version first.

use hashbrown::HashMap;

use crate::model::budget::Refusal;
use crate::model::frame::{FuncDesc, FuncKind};
use crate::read::query::{StatsFilter, merged_for_tag, merged_with_counts, tag_totals};
use crate::session::engine::{Engine, SessionView};
use crate::tables::function_table::FuncId;
use crate::tables::merged::MergedStats;
use crate::tables::stats::CallStats;
use crate::tables::tags::{TagId, TagTotals};

pub const FORMAT_VERSION: f64 = 4.0;
pub const HEADER_LEN: usize = 6;
/// Numbers per function and per edge: their stats.
pub const FUNC_FIELDS: usize = 6;
pub const EDGE_FIELDS: usize = 6;
/// Integers per function and per edge.
pub const FUNC_INTS: usize = 9;
pub const EDGE_INTS: usize = 2;
pub const THREAD_HEADER_LEN: usize = 3;
pub const THREAD_FIELDS: usize = 15;
pub const TAG_HEADER_LEN: usize = 3;
pub const TAG_FIELDS: usize = 5;

#[derive(Debug, Default)]
pub struct Encoded {
    pub numbers: Vec<f64>,
    pub ints: Vec<u32>,
    pub text: String,
}

#[derive(Default)]
struct Text<'a> {
    text: String,
    utf16_len: usize,
    seen: HashMap<&'a str, Place>,
    /// Places of modules by `FuncDesc::module_id`: found without hashing or comparing the
    /// strings, which lie each in its own allocation (a cache miss per function otherwise).
    modules: Vec<Option<Place>>,
}

/// Where a string lies in the text: offset and length in UTF-16 code units.
#[derive(Debug, Clone, Copy)]
struct Place(u32, u32);

impl<'a> Text<'a> {
    fn add(&mut self, value: &'a str) -> Result<Place, Refusal> {
        if let Some(&place) = self.seen.get(value) {
            return Ok(place);
        }
        let place = self.append(value)?;
        self.seen.try_reserve(1).map_err(|_| Refusal::AllocFailed)?;
        self.seen.insert(value, place);
        Ok(place)
    }

    fn module(&mut self, desc: &FuncDesc) -> Result<Place, Refusal> {
        let at = desc.module_id as usize;
        if at >= self.modules.len() {
            self.modules.try_reserve(at + 1 - self.modules.len())?;
            self.modules.resize(at + 1, None);
        }
        if let Some(Some(place)) = self.modules.get(at) {
            return Ok(*place);
        }
        let place = self.append(&desc.module)?;
        if let Some(slot) = self.modules.get_mut(at) {
            *slot = Some(place);
        }
        Ok(place)
    }

    /// `value` without looking for it first: for strings seldom repeated, such as function names.
    fn append(&mut self, value: &str) -> Result<Place, Refusal> {
        let units = if value.is_ascii() { value.len() } else { value.encode_utf16().count() };
        let wide = |n: usize| u32::try_from(n).map_err(|_| Refusal::OverBudget);
        let place = Place(wide(self.utf16_len)?, wide(units)?);
        self.text.try_reserve(value.len())?;
        self.text.push_str(value);
        self.utf16_len += units;
        Ok(place)
    }
}

fn push_stats(numbers: &mut Vec<f64>, stats: &CallStats) {
    // Six, as FUNC_FIELDS and EDGE_FIELDS say.
    numbers.extend_from_slice(&[
        stats.ncall as f64,
        stats.nactual as f64,
        stats.ttot_ns as f64,
        stats.tsub_ns as f64,
        stats.samples as f64,
        stats.samples_total as f64,
    ]);
}

/// Inclusive time as the reader computes it from the wire (`ttot_ns / 1e9`), so that ties
/// and order are the ones it would see.
fn ttot_seconds(stats: &CallStats) -> f64 {
    stats.ttot_ns as f64 / 1e9
}

/// `a` against `b` as JavaScript compares strings: by UTF-16 code units. That is code point
/// order (Rust's) except where a code point past U+FFFF (a surrogate pair, D800–DBFF first)
/// meets one of U+E000–U+FFFF.
fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    let unit = |c: char| if (c as u32) > 0xFFFF { 0xD800 + ((c as u32 - 0x10000) >> 10) } else { c as u32 };
    match a.chars().zip(b.chars()).find(|(x, y)| x != y) {
        Some((x, y)) => unit(x).cmp(&unit(y)).then((x as u32).cmp(&(y as u32))),
        None => a.len().cmp(&b.len()),
    }
}

fn is_listed(view: &SessionView<'_>, func: u32) -> bool {
    view.functions().get(func).is_some_and(|desc| desc.kind != FuncKind::Idle)
}

/// Numbers: header (version, functions, edges, threads merged, clock code, samples dropped for
/// a full budget), then the stats of each function, then of each edge.
/// Integers: per function id, kind, line, column, name (offset, length), module (offset,
/// length), exact-count flags (`coverage::EXACT_*`); then per edge caller id, callee id.
pub fn func_stats(view: &SessionView<'_>, merged: &MergedStats) -> Result<Encoded, Refusal> {
    // (inclusive seconds as bits, function id, row in `merged.funcs`): small, since a read's
    // cost is mostly the kernel handing it fresh pages.
    let mut funcs: Vec<(u64, FuncId, u32)> = Vec::new();
    funcs.try_reserve_exact(merged.funcs.len())?;
    for (row, (id, stats)) in merged.funcs.iter().enumerate() {
        if is_listed(view, *id) {
            funcs.push((ttot_seconds(stats).to_bits(), *id, row as u32));
        }
    }
    let name = |id: FuncId| view.functions().get(id).map_or("", |desc| desc.name.as_str());
    // The order a collection starts in (see `FuncStats` in stats.ts), so the reader need not
    // sort: largest inclusive time first, ties by name as JavaScript's `<` orders strings (in
    // UTF-16 code units), then by id, which its stable sort would have kept.
    // Times first, by integers (a non-negative f64's bits order as it does): names are
    // compared only within runs of equal times, call chains whose frames all ran the same.
    funcs.sort_unstable_by_key(|&(seconds, id, _)| (std::cmp::Reverse(seconds), id));
    for run in funcs.chunk_by_mut(|a, b| a.0 == b.0).filter(|run| run.len() > 1) {
        run.sort_unstable_by(|a, b| utf16_order(name(a.1), name(b.1)).then(a.1.cmp(&b.1)));
    }
    let edges = || merged.edges.iter().filter(|((caller, callee), _)| is_listed(view, *caller) && is_listed(view, *callee));
    let edge_count = edges().count();
    let mut numbers = Vec::new();
    numbers.try_reserve_exact(HEADER_LEN + funcs.len() * FUNC_FIELDS + edge_count * EDGE_FIELDS)?;
    let mut ints = Vec::new();
    ints.try_reserve_exact(funcs.len() * FUNC_INTS + edge_count * EDGE_INTS)?;
    let clock = view.clock().map_or(0.0, |clock| clock as u8 as f64);
    numbers.extend_from_slice(&[FORMAT_VERSION, funcs.len() as f64, edge_count as f64, merged.threads as f64, clock, merged.totals.dropped_samples as f64]);
    let mut text = Text::default();
    text.modules.try_reserve_exact(view.functions().module_count())?;
    for (_, id, row) in funcs {
        let (Some(desc), Some((_, stats))) = (view.functions().get(id), merged.funcs.get(row as usize)) else { continue };
        let name = text.append(&desc.name)?;
        let module = text.module(desc)?;
        let exact = merged.exact.binary_search_by_key(&id, |&(func, _)| func).ok().and_then(|at| merged.exact.get(at));
        let flags = exact.map_or(0, |&(_, flags)| u32::from(flags));
        ints.extend_from_slice(&[id, desc.kind as u32, desc.line, desc.column, name.0, name.1, module.0, module.1, flags]);
        push_stats(&mut numbers, stats);
    }
    for ((caller, callee), stats) in edges() {
        ints.extend_from_slice(&[*caller, *callee]);
        push_stats(&mut numbers, stats);
    }
    Ok(Encoded { numbers, ints, text: text.text })
}

/// Header: version, threads, clock code, then per thread: id, name (offset, length), wall ns,
/// cpu ns, samples, idle ns, idle samples, profiles, dropped samples, estimated cpu ns,
/// profiler ns, profiler samples, end of the last profile (µs on V8's clock; -1: none), the
/// longest sample gap ns.
pub fn thread_stats(view: &SessionView<'_>) -> Result<Encoded, Refusal> {
    let threads: Vec<_> = view.threads().collect();
    let mut numbers = Vec::new();
    numbers.try_reserve_exact(THREAD_HEADER_LEN + threads.len() * THREAD_FIELDS)?;
    let clock = view.clock().map_or(0.0, |clock| clock as u8 as f64);
    numbers.extend_from_slice(&[FORMAT_VERSION, threads.len() as f64, clock]);
    let mut text = Text::default();
    for (shard, snapshot) in threads {
        let name = text.add(&shard.name)?;
        let totals = &snapshot.totals;
        numbers.extend_from_slice(&[
            shard.id as f64,
            f64::from(name.0),
            f64::from(name.1),
            totals.wall_ns as f64,
            totals.cpu_ns as f64,
            totals.samples as f64,
            totals.idle_ns as f64,
            totals.idle_samples as f64,
            totals.profiles as f64,
            totals.dropped_samples as f64,
            totals.cpu_estimated_ns as f64,
            totals.profiler_ns as f64,
            totals.profiler_samples as f64,
            shard.last_end_us().map_or(-1.0, |end| end as f64),
            totals.max_gap_ns as f64,
        ]);
    }
    Ok(Encoded { numbers, ints: Vec::new(), text: text.text })
}

/// Header: version, tags, clock code, then per tag: name (offset, length), ns on the clock,
/// wall ns, samples.
pub fn tag_stats(view: &SessionView<'_>, totals: &[(TagId, TagTotals)]) -> Result<Encoded, Refusal> {
    let mut numbers = Vec::new();
    numbers.try_reserve_exact(TAG_HEADER_LEN + totals.len() * TAG_FIELDS)?;
    let clock = view.clock().map_or(0.0, |clock| clock as u8 as f64);
    numbers.extend_from_slice(&[FORMAT_VERSION, 0.0, clock]);
    let mut text = Text::default();
    let mut count = 0;
    for (id, tag) in totals {
        let Some(name) = view.session.tags.table.name(*id) else { continue };
        let name = text.add(name)?;
        numbers.extend_from_slice(&[f64::from(name.0), f64::from(name.1), tag.ns as f64, tag.wall_ns as f64, tag.samples as f64]);
        count += 1;
    }
    if let Some(slot) = numbers.get_mut(1) {
        *slot = count as f64;
    }
    Ok(Encoded { numbers, ints: Vec::new(), text: text.text })
}

/// The function stats of the threads `filter` selects, encoded: exact counts applied, or with a
/// `tag`, counting only the samples taken under it.
pub fn read_func_stats(engine: &Engine, filter: &StatsFilter, tag: Option<&str>) -> Result<Encoded, Refusal> {
    engine.read(|view| {
        let merged = match tag {
            Some(tag) => merged_for_tag(view, filter, tag)?,
            None => merged_with_counts(view, filter)?,
        };
        func_stats(view, &merged)
    })
}

/// Per-tag totals of the threads `filter` selects, encoded.
pub fn read_tag_stats(engine: &Engine, filter: &StatsFilter) -> Result<Encoded, Refusal> {
    engine.read(|view| tag_stats(view, &tag_totals(view, filter)?))
}

/// Every thread's totals, encoded.
pub fn read_thread_stats(engine: &Engine) -> Result<Encoded, Refusal> {
    engine.read(thread_stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::overhead::Cost;
    use crate::input::exact_counts::{EXACT_NACTUAL, EXACT_NCALL};
    use crate::model::clock::Clock;

    /// The layouts and codes the TypeScript decoder must agree on, as `src/wire.ts` writes them.
    fn wire_layout() -> serde_json::Value {
        let codes = |pairs: Vec<(&str, u8)>| pairs.into_iter().map(|(name, code)| (name.to_owned(), serde_json::json!(code))).collect::<serde_json::Map<_, _>>();
        serde_json::json!({
            "FORMAT_VERSION": FORMAT_VERSION,
            "HEADER_LEN": HEADER_LEN,
            "FUNC_FIELDS": FUNC_FIELDS,
            "EDGE_FIELDS": EDGE_FIELDS,
            "FUNC_INTS": FUNC_INTS,
            "EDGE_INTS": EDGE_INTS,
            "THREAD_HEADER_LEN": THREAD_HEADER_LEN,
            "THREAD_FIELDS": THREAD_FIELDS,
            "TAG_HEADER_LEN": TAG_HEADER_LEN,
            "TAG_FIELDS": TAG_FIELDS,
            "EXACT_NCALL": EXACT_NCALL,
            "EXACT_NACTUAL": EXACT_NACTUAL,
            "FUNC_KINDS": codes(FuncKind::ALL.iter().map(|&kind| (kind.name(), kind as u8)).collect()),
            "CLOCKS": codes(Clock::ALL.iter().map(|&clock| (clock.name(), clock as u8)).collect()),
            "COSTS": codes(Cost::ALL.iter().map(|&cost| (cost.name(), cost as u8)).collect()),
        })
    }

    #[test]
    fn names_order_as_javascript_compares_them() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let js = |a: &str, b: &str| a.encode_utf16().cmp(b.encode_utf16());
        let names = ["", "a", "ab", "b", "B", "\u{e000}", "\u{ffff}", "\u{10000}", "\u{10400}", "\u{1f600}x", "é", "a\u{10000}", "a\u{ff00}"];
        for a in names {
            for b in names {
                assert_eq!(utf16_order(a, b), js(a, b), "{a:?} against {b:?}");
            }
        }
        assert_eq!(utf16_order("\u{10000}", "\u{ffff}"), Less);
        assert_eq!(utf16_order("b", "a"), Greater);
        assert_eq!(utf16_order("x", "x"), Equal);
    }

    /// The TypeScript side cannot read these constants, so this test writes them where its test
    /// (`__test__/wire.spec.ts`) compares them with its own: a change on either side fails one.
    #[test]
    fn wire_layout_fixture_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../__test__/fixtures/wire-layout.json");
        let fresh = format!("{}\n", serde_json::to_string_pretty(&wire_layout()).unwrap());
        if std::env::var_os("YAPPI_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is not the engine's wire layout: run `YAPPI_BLESS=1 cargo test -p yappi-engine wire_layout`, update src/wire.ts to match, and commit both\nexpected:\n{fresh}",
            path.display()
        );
    }
}
