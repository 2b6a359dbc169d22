//! The rebuild's progress bar on stderr (only when stderr is a terminal).

use std::sync::OnceLock;

static PROGRESS_BAR: OnceLock<indicatif::ProgressBar> = OnceLock::new();

/// Progress of a rebuild, on stderr (only used when stderr is a terminal).
pub fn progress(done: u64, total: u64) {
    let bar = PROGRESS_BAR.get_or_init(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "indexing {bar:40} {pos}/{len} passages ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    });
    bar.set_length(total);
    bar.set_position(done);
}

/// Clears the progress bar, if one was shown.
pub fn finish_progress() {
    if let Some(bar) = PROGRESS_BAR.get() {
        bar.finish_and_clear();
    }
}
