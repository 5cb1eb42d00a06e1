//! pprof's profile.proto (github.com/google/pprof/proto/profile.proto), gzipped: two sample
//! types (samples/count and the clock in nanoseconds), one location per function, and one
//! sample per call path labelled with its thread.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use hashbrown::HashMap;

use super::{ExportError, buffer, export_names, self_paths};
use crate::session::report::Report;

/// A protobuf message being written: fields appended in any order, as the format allows.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.key(field, 0);
            self.varint(value);
        }
    }

    fn bytes(&mut self, field: u32, data: &[u8]) {
        self.key(field, 2);
        self.varint(data.len() as u64);
        self.0.extend_from_slice(data);
    }

    fn packed(&mut self, field: u32, values: impl Iterator<Item = u64>) {
        let mut packed = Message::default();
        for value in values {
            packed.varint(value);
        }
        self.bytes(field, &packed.0);
    }

    fn message(&mut self, field: u32, build: impl FnOnce(&mut Message)) {
        let mut inner = Message::default();
        build(&mut inner);
        self.bytes(field, &inner.0);
    }
}

/// The profile's string table: index 0 is the empty string, as pprof requires.
#[derive(Default)]
struct Strings<'a> {
    list: Vec<&'a str>,
    index: HashMap<&'a str, u64>,
}

impl<'a> Strings<'a> {
    fn id(&mut self, text: &'a str) -> u64 {
        if self.list.is_empty() {
            self.list.push("");
            self.index.insert("", 0);
        }
        *self.index.entry(text).or_insert_with(|| {
            self.list.push(text);
            self.list.len() as u64 - 1
        })
    }
}

// Field numbers of profile.proto.
const PROFILE_SAMPLE_TYPE: u32 = 1;
const PROFILE_SAMPLE: u32 = 2;
const PROFILE_LOCATION: u32 = 4;
const PROFILE_FUNCTION: u32 = 5;
const PROFILE_STRING_TABLE: u32 = 6;
const PROFILE_DURATION_NANOS: u32 = 10;
const PROFILE_PERIOD_TYPE: u32 = 11;
const PROFILE_PERIOD: u32 = 12;
const VALUE_TYPE_TYPE: u32 = 1;
const VALUE_TYPE_UNIT: u32 = 2;
const SAMPLE_LOCATION_ID: u32 = 1;
const SAMPLE_VALUE: u32 = 2;
const SAMPLE_LABEL: u32 = 3;
const LABEL_KEY: u32 = 1;
const LABEL_STR: u32 = 2;
const LOCATION_ID: u32 = 1;
const LOCATION_LINE: u32 = 4;
const LINE_FUNCTION_ID: u32 = 1;
const LINE_LINE: u32 = 2;
const FUNCTION_ID: u32 = 1;
const FUNCTION_NAME: u32 = 2;
const FUNCTION_SYSTEM_NAME: u32 = 3;
const FUNCTION_FILENAME: u32 = 4;
const FUNCTION_START_LINE: u32 = 5;

pub fn render(report: &Report) -> Result<Vec<u8>, ExportError> {
    let labels: Vec<String> = report.threads.iter().map(|thread| format!("{} #{}", thread.name, thread.id)).collect();
    let names = export_names(report)?;
    let mut strings = Strings::default();
    let mut profile = Message::default();
    profile.0.try_reserve(report.functions.len() * 64 + report.threads.iter().map(|t| t.stacks.len() * 32).sum::<usize>())?;
    let (samples_id, count_id, clock_id, nanos_id) =
        (strings.id("samples"), strings.id("count"), strings.id(&report.clock), strings.id("nanoseconds"));
    let thread_key = strings.id("thread");
    for (kind, unit) in [(samples_id, count_id), (clock_id, nanos_id)] {
        profile.message(PROFILE_SAMPLE_TYPE, |m| {
            m.uint(VALUE_TYPE_TYPE, kind);
            m.uint(VALUE_TYPE_UNIT, unit);
        });
    }
    let (mut all_samples, mut all_ns, mut longest_ns) = (0u64, 0u64, 0u64);
    for (thread, label) in report.threads.iter().zip(&labels) {
        let label = strings.id(label);
        longest_ns = longest_ns.max(thread.totals.wall_ns);
        for (path, stats) in self_paths(report, thread) {
            all_samples = all_samples.saturating_add(stats.samples);
            all_ns = all_ns.saturating_add(stats.tsub_ns);
            profile.message(PROFILE_SAMPLE, |m| {
                // Leaf first; location ids are function indices plus one (0 is reserved).
                m.packed(SAMPLE_LOCATION_ID, path.iter().rev().map(|&f| u64::from(f) + 1));
                m.packed(SAMPLE_VALUE, [stats.samples, stats.tsub_ns].into_iter());
                m.message(SAMPLE_LABEL, |l| {
                    l.uint(LABEL_KEY, thread_key);
                    l.uint(LABEL_STR, label);
                });
            });
        }
    }
    for (index, (f, name)) in report.functions.iter().zip(&names).enumerate() {
        let id = index as u64 + 1;
        profile.message(PROFILE_LOCATION, |m| {
            m.uint(LOCATION_ID, id);
            m.message(LOCATION_LINE, |l| {
                l.uint(LINE_FUNCTION_ID, id);
                l.uint(LINE_LINE, u64::from(f.line));
            });
        });
        let (name, file) = (strings.id(name), strings.id(&f.module));
        profile.message(PROFILE_FUNCTION, |m| {
            m.uint(FUNCTION_ID, id);
            m.uint(FUNCTION_NAME, name);
            m.uint(FUNCTION_SYSTEM_NAME, name);
            m.uint(FUNCTION_FILENAME, file);
            m.uint(FUNCTION_START_LINE, u64::from(f.line));
        });
    }
    profile.uint(PROFILE_DURATION_NANOS, longest_ns);
    profile.message(PROFILE_PERIOD_TYPE, |m| {
        m.uint(VALUE_TYPE_TYPE, clock_id);
        m.uint(VALUE_TYPE_UNIT, nanos_id);
    });
    profile.uint(PROFILE_PERIOD, all_ns.checked_div(all_samples).unwrap_or(0));
    for text in &strings.list {
        profile.bytes(PROFILE_STRING_TABLE, text.as_bytes());
    }
    let mut gzip = GzEncoder::new(buffer(profile.0.len() / 3 + 64)?, Compression::default());
    gzip.write_all(&profile.0)?;
    Ok(gzip.finish()?)
}
