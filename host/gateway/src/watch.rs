//! Watches the config file and every plugin file, and runs a reload when one changes.
//!
//! It watches the files' parent directories, not the files: editors, `cp` and
//! `cargo build` replace a file by renaming another over it, or write it in several
//! steps, and a watch on the old file would miss the new one. Events are debounced, so a
//! burst of writes is one reload, and the reload skips files whose content is unchanged.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, RecommendedCache, new_debouncer};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::reload::Reloader;

/// How long a file must stay quiet before its change is applied.
const DEBOUNCE: Duration = Duration::from_millis(100);

type Debouncer = notify_debouncer_full::Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// A running watcher; [`Watcher::stop`] ends it.
pub(crate) struct Watcher {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Watcher {
    /// Starts watching what `reloader` serves from: its config file and plugin files.
    pub(crate) fn spawn(reloader: Arc<Reloader>) -> anyhow::Result<Self> {
        let (events, mut changes) = mpsc::unbounded_channel::<DebounceEventResult>();
        let debouncer = new_debouncer(DEBOUNCE, None, move |result| {
            // The receiver is gone only once the watcher has stopped.
            let _ = events.send(result);
        })
        .context("cannot start the file watcher")?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut watches = Watches {
                debouncer,
                dirs: BTreeSet::new(),
                files: Vec::new(),
            };
            watches.update(reloader.watched_files());
            // Catches changes made between loading the config and watching it.
            reloader.reload().await;
            watches.update(reloader.watched_files());
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    Some(first) = changes.recv() => {
                        let mut relevant = watches.concerns(&first);
                        while let Ok(more) = changes.try_recv() {
                            relevant |= watches.concerns(&more);
                        }
                        if relevant {
                            reloader.reload().await;
                            watches.update(reloader.watched_files());
                        }
                    }
                }
            }
        });
        Ok(Self { stop, task })
    }

    /// Stops watching and waits for a reload in progress to finish.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The directories being watched, for the files that matter.
struct Watches {
    debouncer: Debouncer,
    dirs: BTreeSet<PathBuf>,
    files: Vec<PathBuf>,
}

impl Watches {
    /// Watches the parent directories of `files` and no others.
    fn update(&mut self, files: Vec<PathBuf>) {
        let dirs: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|file| file.parent().map(PathBuf::from))
            .collect();
        for gone in self.dirs.difference(&dirs) {
            if let Err(error) = self.debouncer.unwatch(gone) {
                tracing::debug!(target: "archway.reload", dir = %gone.display(), %error, "cannot unwatch");
            }
        }
        let mut watched = BTreeSet::new();
        for dir in dirs {
            if self.dirs.contains(&dir) {
                watched.insert(dir);
                continue;
            }
            match self.debouncer.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir);
                }
                Err(error) => tracing::warn!(
                    target: "archway.reload",
                    dir = %dir.display(),
                    %error,
                    "cannot watch this directory; changes in it are not applied"
                ),
            }
        }
        self.dirs = watched;
        self.files = files;
    }

    /// Whether a batch of events changes a file that matters (errors always do: the
    /// watcher may have missed something). Reads are not changes: the reloader reads
    /// every file it checks, and counting that would reload forever.
    fn concerns(&self, result: &DebounceEventResult) -> bool {
        match result {
            Ok(events) => events
                .iter()
                .filter(|event| !matches!(event.kind, EventKind::Access(_)))
                .flat_map(|event| &event.paths)
                .any(|path| self.files.contains(path)),
            Err(errors) => {
                for error in errors {
                    tracing::warn!(target: "archway.reload", %error, "file watcher error");
                }
                true
            }
        }
    }
}
