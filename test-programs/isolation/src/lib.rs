//! Memory isolation between tasks: each item of a foreach first looks through its whole linear
//! memory for what the other items left there, then leaves its own residue behind, in every kind
//! of place wasmtime's pooling allocator must reset before it gives the memory slot to the next
//! task: the heap, `.bss`, `.data` (the part of the memory image), a page far above the 64 MiB the
//! pool keeps resident, and — depending on the item — more than 32 scattered dirty pages, or more
//! dirty memory than those 64 MiB. `tests/all/isolation.rs` runs it one task at a time, so each
//! task reuses the memory slot of an earlier one.
//!
//! Residue is 64-bit words, each naming the item that wrote it and its place in that item's
//! residue, mixed by an invertible function. The scanner inverts every aligned word of memory
//! and recognises residue by the result; it never computes another item's residue, so it cannot
//! find a copy it made itself. After writing, a task scans again and must find all of its own
//! residue (the scanner works); with `-p plant=true` each task first writes the residue of the
//! next item itself, as a leaked slot would show it, and must report it (the report shows a leak).
//!
//! It reads its own linear memory (`core::arch::wasm32`), so it is compiled for wasm32 only: on
//! the host (`cargo clippy --workspace`) the crate is empty.
#![cfg(target_arch = "wasm32")]

use core::arch::wasm32;
use core::ptr;

use serde::{Deserialize, Serialize};
use wflow::{Artifact, Inputs, Param, Result};

/// start → probe (foreach of `n`) → join (every report) → end.
#[wflow::flow]
pub struct Isolation {
    /// How many items (at most 255).
    #[param(default = 8)]
    n: Param<i64>,
    /// Each item writes the next item's residue before it scans (the positive control).
    #[param(default = false)]
    plant: Param<bool>,
    /// 0..n.
    items: Artifact<Vec<u32>>,
    /// What one item found and wrote.
    report: Artifact<Report>,
    /// Every item's report, in item order.
    reports: Artifact<Vec<Report>>,
}

/// What one task found in its memory before it wrote anything, and what it wrote.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Report {
    /// The item.
    pub item: u32,
    /// `small`, `scattered` or `big`: how much and how spread out its dirty memory is.
    pub kind: String,
    /// Bytes of linear memory scanned before writing (all of it).
    pub scanned_bytes: u64,
    /// Residue of other items found before writing: must be empty.
    pub foreign: Vec<Foreign>,
    /// Words of its own residue found before writing: must be 0.
    pub own_before: u64,
    /// Where it wrote its residue, and how much of it the scan after writing found.
    pub places: Vec<Place>,
}

/// Residue of another item.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Foreign {
    /// The item that wrote it.
    pub item: u32,
    /// How many of its words.
    pub words: u64,
    /// The lowest address of one.
    pub lowest: u32,
}

/// One place a task wrote residue to.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Place {
    /// `heap`, `bss`, `data`, `high`, `scattered` or `big`.
    pub name: String,
    /// Its first address.
    pub address: u32,
    /// Words written.
    pub written: u64,
    /// Words of it the scan after writing found.
    pub found: u64,
}

/// Words in 4 KiB of residue.
const WORDS: usize = 512;
const PAGE: usize = 4096;
const MIB: usize = 1 << 20;
/// Memory every task grows to before it scans, so the scan covers where the others wrote.
const TOP: usize = 96 * MIB;
/// The pool's `linear_memory_keep_resident` (runtime/engine/src/engine.rs).
const KEEP_RESIDENT: usize = 64 * MIB;
/// Where the high places are, below `TOP`: the high page above `KEEP_RESIDENT` (memory the pool
/// returns to the kernel), the big run across it (more dirty memory than it rewrites in place).
const BIG_AT: usize = 8 * MIB;
const BIG_BYTES: usize = KEEP_RESIDENT + MIB;
const SCATTERED_AT: usize = 16 * MIB;
const SCATTERED_PAGES: usize = 48;
const HIGH_AT: usize = TOP - PAGE;

/// The places, in the order of their word indices.
const PLACES: [&str; 6] = ["heap", "bss", "data", "high", "scattered", "big"];
/// The first word index of each place (and the end of the last).
const FIRST: [u32; 7] = {
    let mut first = [0u32; 7];
    let sizes = [
        WORDS,
        WORDS,
        WORDS,
        WORDS,
        SCATTERED_PAGES * WORDS,
        BIG_BYTES / 8,
    ];
    let mut i = 0;
    while i < 6 {
        first[i + 1] = first[i] + sizes[i] as u32;
        i += 1;
    }
    first
};

/// A residue word is `(MAGIC << 32 | item << 24 | index) ^ KEY`, times the odd `MUL`.
const MAGIC: u32 = 0x7e51_d0e5;
const KEY: u64 = 0x243f_6a88_85a3_08d3;
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;
/// `MUL`'s inverse modulo 2^64 (Newton's iteration: each step doubles the correct low bits).
const MUL_INV: u64 = {
    let mut inv = MUL;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(MUL.wrapping_mul(inv)));
        i += 1;
    }
    inv
};

fn encode(item: u32, index: u32) -> u64 {
    let plain = (MAGIC as u64) << 32 | (item as u64) << 24 | index as u64;
    (plain ^ KEY).wrapping_mul(MUL)
}

/// The (item, index) a word of residue names, if it is one.
fn decode(word: u64) -> Option<(u32, u32)> {
    let plain = word.wrapping_mul(MUL_INV) ^ KEY;
    let index = (plain & 0xff_ffff) as u32;
    ((plain >> 32) as u32 == MAGIC && index < FIRST[6])
        .then_some(((plain >> 24) as u32 & 0xff, index))
}

/// Writes `words` words of `item`'s residue from word index `index` on, at `at`.
///
/// # Safety
/// `at` is 8-aligned and `words * 8` bytes from it are memory no one else uses.
unsafe fn write_residue(at: *mut u64, item: u32, index: u32, words: usize) {
    for q in 0..words {
        // SAFETY: the caller's promise.
        unsafe { at.add(q).write_volatile(encode(item, index + q as u32)) };
    }
}

/// What a scan found.
struct Scan {
    /// Bytes of memory scanned.
    bytes: usize,
    /// Words of each item's residue (by item), and the lowest address of one.
    words: [u64; 256],
    lowest: [u32; 256],
    /// Words of `me`'s residue by place.
    own: [u64; 6],
}

/// Reads every aligned word of linear memory from address 8 to its end (volatile: nothing is
/// assumed about what is there) and counts the residue it finds.
fn scan(me: u32) -> Scan {
    let end = wasm32::memory_size(0) * 65536;
    let mut s = Scan {
        bytes: end,
        words: [0; 256],
        lowest: [u32::MAX; 256],
        own: [0; 6],
    };
    let mut addr = 8;
    while addr < end {
        // SAFETY: every address below the memory's size is in bounds; wasm has no unmapped
        // pages inside it.
        let word = unsafe { ptr::read_volatile(ptr::with_exposed_provenance::<u64>(addr)) };
        if let Some((item, index)) = decode(word) {
            let i = item as usize;
            s.words[i] += 1;
            s.lowest[i] = s.lowest[i].min(addr as u32);
            if item == me {
                let place = FIRST.iter().rposition(|&f| f <= index).unwrap_or(0);
                s.own[place.min(5)] += 1;
            }
        }
        addr += 8;
    }
    s
}

/// The address of a page of this memory at `at`, which `grown` (the part this task grew itself,
/// which nothing else uses) must hold.
fn mine(grown: &core::ops::Range<usize>, at: usize, bytes: usize) -> Result<*mut u64> {
    if at < grown.start || at + bytes > grown.end {
        wflow::bail!("{at:#x}+{bytes:#x} is not in the memory this task grew ({grown:x?})");
    }
    Ok(ptr::with_exposed_provenance_mut::<u64>(at))
}

static mut BSS: [u64; WORDS] = [0; WORDS];
static mut DATA: [u64; WORDS] = [0x0101_0101_0101_0101; WORDS];

#[wflow::steps]
impl Isolation {
    /// Makes the items.
    #[step(foreach = "probe", items = "items")]
    fn start(&mut self) -> Result<()> {
        let n = self.n.get()?;
        if !(1..=255).contains(&n) {
            wflow::bail!("n must be 1..=255, not {n}");
        }
        self.items.set((0..n as u32).collect());
        Ok(())
    }

    /// Scans for the others' residue, then leaves its own.
    #[step(next = "join", memory = 128)]
    fn probe(&mut self) -> Result<()> {
        let item: u32 = wflow::current::input()?;
        let n = self.n.get()? as u32;
        let plant = self.plant.get()?;

        // Grow to TOP, so that the scan covers where the others wrote high up.
        let pages = wasm32::memory_size(0);
        if pages * 65536 > KEEP_RESIDENT {
            wflow::bail!("a fresh instance has {pages} pages already");
        }
        if wasm32::memory_grow(0, TOP / 65536 - pages) == usize::MAX {
            wflow::bail!("cannot grow memory to {TOP} bytes");
        }
        let grown = pages * 65536..TOP;

        if plant {
            // What a leak would look like: the next item's residue, left in this memory.
            let planted = Box::leak(vec![0u64; WORDS].into_boxed_slice());
            // SAFETY: a leaked allocation of WORDS words.
            unsafe { write_residue(planted.as_mut_ptr(), (item + 1) % n, 0, WORDS) };
        }

        let before = scan(item);
        let foreign = (0..256)
            .filter(|&i| i != item as usize && before.words[i] > 0)
            .map(|i| Foreign {
                item: i as u32,
                words: before.words[i],
                lowest: before.lowest[i],
            })
            .collect();

        let kind = ["small", "scattered", "big"][item as usize % 3];
        let heap = Box::leak(vec![0u64; WORDS].into_boxed_slice()).as_mut_ptr();
        let mut places: Vec<(usize, *mut u64, usize)> = vec![
            (0, heap, WORDS),
            (1, (&raw mut BSS).cast::<u64>(), WORDS),
            (2, (&raw mut DATA).cast::<u64>(), WORDS),
            (3, mine(&grown, HIGH_AT, PAGE)?, WORDS),
        ];
        match kind {
            // More than the 32 dirty regions one PAGEMAP_SCAN reports: every other page.
            "scattered" => {
                for j in 0..SCATTERED_PAGES {
                    let at = SCATTERED_AT + 2 * j * PAGE;
                    places.push((4, mine(&grown, at, PAGE)?, WORDS));
                }
            }
            // More dirty memory than the pool keeps resident.
            "big" => places.push((5, mine(&grown, BIG_AT, BIG_BYTES)?, BIG_BYTES / 8)),
            _ => {}
        }
        let mut written = [0u64; 6];
        let mut address = [u32::MAX; 6];
        for &(place, at, words) in &places {
            let index = FIRST[place] + (written[place] as u32);
            // SAFETY: a leaked allocation, a static of WORDS words, or memory this task grew.
            unsafe { write_residue(at, item, index, words) };
            written[place] += words as u64;
            address[place] = address[place].min(at.addr() as u32);
        }

        let after = scan(item);
        self.report.set(Report {
            item,
            kind: kind.into(),
            scanned_bytes: before.bytes as u64,
            foreign,
            own_before: before.words[item as usize],
            places: (0..6)
                .filter(|&p| written[p] > 0)
                .map(|p| Place {
                    name: PLACES[p].into(),
                    address: address[p],
                    written: written[p],
                    found: after.own[p],
                })
                .collect(),
        });
        Ok(())
    }

    /// Gathers the reports.
    #[step(join, next = "end")]
    fn join(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut reports = Vec::new();
        for input in inputs.iter() {
            reports.push(input.report.get()?.clone());
        }
        reports.sort_by_key(|r| r.item);
        self.reports.set(reports);
        Ok(())
    }

    /// Nothing left to do.
    #[step]
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}
