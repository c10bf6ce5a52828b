//! Replays every fuzz target's corpus (`fuzz/corpus/TARGET/`): seconds, not a fuzzing
//! run. A crash the fuzzer found is kept there once fixed.

use std::path::Path;

#[test]
fn every_corpus_replays_without_a_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, target) in aerie_fuzz::TARGETS {
        let dir = root.join(name);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                // A fuzzer running on the corpus meanwhile replaced it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} crashes", path.display());
            inputs += 1;
        }
        assert!(inputs > 0, "{name}: the corpus is empty");
        println!("{name}: {inputs} inputs replayed");
    }
}
