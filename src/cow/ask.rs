//! `onexit ask`: the change summary on the terminal, and the user's
//! choice of what becomes of the layer. The dialogue runs over any
//! reader and writer (the terminal, `/dev/tty`, or a test's script); a
//! choice is plain data ([`Decision`]) that [`super::on_exit`] carries out.

use super::changes::{Change, What};
use super::manifest::Kind;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// What the user chose for the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    CommitAll,
    /// These changes of each tree (by the layer's tree order); the rest
    /// are discarded with the layer.
    CommitSome(Vec<Vec<Change>>),
    Keep,
    Discard,
}

/// One tree's changes, as the dialogue shows them.
pub struct TreeChanges<'a> {
    pub real: &'a Path,
    pub mirror: &'a Path,
    pub changes: Vec<Change>,
}

const PROMPT: &str =
    "[c]ommit all, commit [o]ne by one, [d]iff, [l]ist, [k]eep for later, [q]uit discarding? ";

/// Asks until the user chooses; the end of input keeps the layer.
pub fn dialogue(
    trees: &[TreeChanges],
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> std::io::Result<Decision> {
    list(trees, output)?;
    loop {
        write!(output, "{PROMPT}")?;
        output.flush()?;
        let Some(answer) = read_answer(input)? else {
            writeln!(output)?;
            return Ok(Decision::Keep);
        };
        match answer {
            'c' => return Ok(Decision::CommitAll),
            'k' => return Ok(Decision::Keep),
            'q' => return Ok(Decision::Discard),
            'l' => list(trees, output)?,
            'd' => {
                for tree in trees {
                    for change in &tree.changes {
                        diff(tree, change, output)?;
                    }
                }
            }
            'o' => {
                let mut chosen = Vec::new();
                for tree in trees {
                    let mut picked = Vec::new();
                    for (index, change) in tree.changes.iter().enumerate() {
                        write!(output, "{}  commit? [y/n] ", change.line(tree.real))?;
                        output.flush()?;
                        match read_answer(input)? {
                            Some('y') => picked.push(index),
                            Some(_) => {}
                            None => {
                                writeln!(output)?;
                                return Ok(Decision::Keep);
                            }
                        }
                    }
                    chosen.push(closed_selection(&tree.changes, &picked));
                }
                return Ok(Decision::CommitSome(chosen));
            }
            _ => writeln!(output, "?")?,
        }
    }
}

fn read_answer(input: &mut dyn BufRead) -> std::io::Result<Option<char>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(
        line.trim()
            .chars()
            .next()
            .map_or(' ', |c| c.to_ascii_lowercase()),
    ))
}

fn list(trees: &[TreeChanges], output: &mut dyn Write) -> std::io::Result<()> {
    for tree in trees {
        for change in &tree.changes {
            writeln!(output, "{}", change.line(tree.real))?;
        }
    }
    Ok(())
}

/// `diff -u` of a changed file's old and new content (a new file against
/// nothing, a deleted one to nothing); other kinds by their line.
fn diff(tree: &TreeChanges, change: &Change, output: &mut dyn Write) -> std::io::Result<()> {
    if change.kind != Kind::File {
        return writeln!(output, "{}", change.line(tree.real));
    }
    let (old, new): (PathBuf, PathBuf) = match &change.what {
        What::Added => ("/dev/null".into(), tree.mirror.join(&change.path)),
        What::Deleted => (tree.real.join(&change.path), "/dev/null".into()),
        What::Modified => (tree.real.join(&change.path), tree.mirror.join(&change.path)),
        What::Renamed { from, .. } => (tree.real.join(from), tree.mirror.join(&change.path)),
    };
    let shown = tree.real.join(&change.path);
    match std::process::Command::new("diff")
        .arg("-u")
        .arg("--label")
        .arg(if change.what == What::Added {
            Path::new("/dev/null")
        } else {
            &shown
        })
        .arg("--label")
        .arg(if change.what == What::Deleted {
            Path::new("/dev/null")
        } else {
            &shown
        })
        .arg(&old)
        .arg(&new)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(result) => output.write_all(&result.stdout),
        Err(error) => writeln!(
            output,
            "{}: cannot run diff: {error}",
            change.line(tree.real)
        ),
    }
}

/// The chosen changes (by index) and what they need: a new or renamed
/// directory above a chosen change comes with it, and a deleted or
/// renamed directory takes every change below it.
pub fn closed_selection(changes: &[Change], picked: &[usize]) -> Vec<Change> {
    let mut chosen: Vec<bool> = (0..changes.len()).map(|i| picked.contains(&i)).collect();
    loop {
        let mut grew = false;
        for (index, change) in changes.iter().enumerate() {
            if chosen[index] {
                continue;
            }
            let needed = changes.iter().zip(&chosen).any(|(other, &on)| {
                if !on {
                    return false;
                }
                let below = |dir: &Path, path: &Path| path != dir && path.starts_with(dir);
                let is_dir = change.kind == Kind::Dir;
                // A directory made or moved here, above a chosen change.
                let above = is_dir
                    && matches!(change.what, What::Added | What::Renamed { .. })
                    && below(&change.path, &other.path);
                // Below a chosen removal or move of a directory.
                let under = other.kind == Kind::Dir
                    && matches!(other.what, What::Deleted | What::Renamed { .. })
                    && (below(&other.path, &change.path)
                        || matches!(&other.what, What::Renamed { from, .. }
                            if below(from, &change.path)));
                above || under
            });
            if needed {
                chosen[index] = true;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    changes
        .iter()
        .zip(chosen)
        .filter(|(_, on)| *on)
        .map(|(change, _)| change.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(what: What, path: &str, kind: Kind) -> Change {
        Change {
            what,
            path: PathBuf::from(path),
            kind,
            old_size: Some(1),
            new_size: Some(2),
        }
    }

    fn run(script: &str, changes: Vec<Change>) -> (Decision, String) {
        let trees = [TreeChanges {
            real: Path::new("/p"),
            mirror: Path::new("/nonexistent-mirror"),
            changes,
        }];
        let mut output = Vec::new();
        let decision = dialogue(&trees, &mut script.as_bytes(), &mut output).expect("the dialogue");
        (decision, String::from_utf8_lossy(&output).into_owned())
    }

    #[test]
    fn each_answer_is_its_decision_and_the_end_of_input_keeps() {
        let changes = || vec![change(What::Modified, "a", Kind::File)];
        assert_eq!(run("c\n", changes()).0, Decision::CommitAll);
        assert_eq!(run("k\n", changes()).0, Decision::Keep);
        assert_eq!(run("Q\n", changes()).0, Decision::Discard);
        assert_eq!(run("", changes()).0, Decision::Keep);
        let (decision, shown) = run("x\nl\nq\n", changes());
        assert_eq!(decision, Decision::Discard);
        assert_eq!(shown.matches("M /p/a (1 -> 2 bytes)").count(), 2, "{shown}");
        assert!(shown.contains("?\n"), "{shown}");
    }

    #[test]
    fn one_by_one_takes_what_each_choice_needs() {
        let changes = vec![
            change(What::Added, "new", Kind::Dir),
            change(What::Added, "new/f", Kind::File),
            change(What::Deleted, "old", Kind::Dir),
            change(What::Deleted, "old/g", Kind::File),
            change(What::Modified, "m", Kind::File),
        ];
        // y for new/f only (its directory comes along), y for old/ (its
        // file comes along), n for m.
        let (decision, _) = run("o\nn\ny\ny\nn\nn\n", changes.clone());
        let Decision::CommitSome(trees) = decision else {
            panic!("{decision:?}");
        };
        let paths: Vec<&Path> = trees[0].iter().map(|c| c.path.as_path()).collect();
        assert_eq!(
            paths,
            [
                Path::new("new"),
                Path::new("new/f"),
                Path::new("old"),
                Path::new("old/g")
            ]
        );
        // The end of input in the middle keeps everything.
        assert_eq!(run("o\ny\n", changes).0, Decision::Keep);
    }
}
