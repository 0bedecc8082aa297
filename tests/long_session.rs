//! A long session's memory: what a REPL or a notebook kernel holds after thousands of
//! inputs. Its own test binary, so the counting allocator sees only this test.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use kestrel::config::Config;
use kestrel::output::{Format, Printer};
use kestrel::session::{Session, SessionOptions};

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_long_session_holds_its_inputs_and_live_variables_only() {
    let dir = common::fresh_dir("long-session", "memory");
    common::ingest_ecs_fixture(&dir.join("lake.db"));
    let yaml = format!(
        "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: \"@timestamp\"\n",
        dir.join("lake.db").display()
    );
    let config = Config::from_yaml_str(&yaml, None).unwrap();
    let mut s = Session::new(Some(&config), SessionOptions::default());
    let run = |s: &mut Session<'_>, input: &str| {
        let mut printer = Printer::new(Vec::new(), Format::Csv);
        s.execute(input, &mut printer)
            .unwrap_or_else(|d| panic!("{input}\n{}", s.render(&d)));
        String::from_utf8(printer.into_inner()).unwrap()
    };
    // Variables that live all along, and three that hold old versions of `w`.
    run(
        &mut s,
        "base = GET process FROM sqlite://events WHERE pid > 0\nkids = FIND process CREATED BY base\nheld0 = kids\nheld1 = kids\nheld2 = kids",
    );
    let mut shown: Vec<String> = Vec::new();
    let (mut input_bytes, mut live_at) = (0, Vec::new());
    for i in 0..1500 {
        // Input i shows what input i - 50 showed: `v` and `w` as then, and the `w` of
        // two inputs before, which `held` kept after `w` was assigned again.
        let input = format!(
            "v = GET process FROM sqlite://events WHERE pid > {}\nw = FIND process CREATED BY v\nheld{} = w\nDISP v ATTR name\nINFO w\nDISP held{} ATTR pid\nDISP kids ATTR pid",
            1000 + i % 50,
            i % 3,
            (i + 1) % 3,
        );
        shown.push(run(&mut s, &input));
        if i >= 52 {
            assert_eq!(shown[i], shown[i - 50], "input {i}:\n{input}");
        }
        if i >= 500 {
            input_bytes += input.len() + 1;
        }
        if i == 499 || i == 1499 {
            live_at.push(
                LIVE.load(Ordering::Relaxed)
                    - shown.iter().map(|o| o.capacity() as isize).sum::<isize>(),
            );
        }
    }
    assert!(
        shown.iter().any(|o| o.lines().count() > 10),
        "{}",
        shown[60]
    );
    // What grew over the last 1,000 inputs is the text of the inputs (kept for
    // diagnostics), in a buffer that may have doubled: 0.27 MB for 0.16 MB of text.
    // Before the session forgot old versions it was 15 MB.
    let grown = live_at[1] - live_at[0];
    assert!(
        grown <= 2 * input_bytes as isize + 64 * 1024,
        "grew {grown} bytes over 1,000 inputs of {input_bytes} bytes"
    );
    // A number of relations in proportion to the live variables, not to the inputs.
    assert!(
        s.program().relations.len() < 200,
        "{} relations",
        s.program().relations.len()
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
