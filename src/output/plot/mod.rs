//! PNG plots (plotters' bitmap backend, with DejaVu Sans embedded from `assets/`).
//!
//! - [`plot_1d_states`]: a band-edge profile with the states' densities drawn at their
//!   energies (the textbook quantum-well picture), the |ψ|² scale stated on the plot.
//! - [`plot_levels`]: energy levels against a swept parameter.
//! - [`plot_panels`]: a grid of heat maps (slices of 2D/3D fields), each with its own
//!   colour scale (linear, logarithmic or diverging) and a colour bar with ticks and unit;
//!   [`structure_panels`] builds the slices of a potential and every state, zoomed to
//!   where the states are.
//!
//! Axes get "nice" ticks (1-2-5 steps, integers on integer axes, decades on log axes,
//! labelled 10ⁿ, a common ×10ⁿ factor instead of long decimals), label areas sized to
//! their labels, and the legend beside the plot so it never hides data.
//! Non-finite values never panic: lines are broken at them, heat-map cells show grey.
//!
//! Where things are: here the embedded font and the state colours; `ticks` tick steps
//! and number labels; `chart` line-chart axes, dashes, legend and clipping (shared with
//! `output::lines`); `profiles` the 1D plots; `heatmap` the panels and colour scales;
//! `structure` the slices of a structure and its states.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::error::{QdError, Result};

mod chart;
mod heatmap;
mod profiles;
mod structure;
#[cfg(test)]
mod tests;
mod ticks;

pub(crate) use chart::*;
pub use heatmap::*;
pub use profiles::*;
pub use structure::*;
pub(crate) use ticks::*;

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
const FONT: &str = "sans-serif";

/// Register the embedded font (once), for other plot modules.
pub(crate) fn ensure_font_pub() -> Result<()> {
    ensure_font()
}

fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()) {
        Ok(())
    } else {
        Err(QdError::Internal("the embedded DejaVu Sans font failed to load".into()))
    }
}

/// Line colours (matplotlib's tab10) for the states.
const STATE_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
];
