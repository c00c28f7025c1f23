//! The parameter grid of a sweep: `--param NAME=FROM..TO[:STEP]` or
//! `--param NAME=V1,V2,...`, one axis per `--param`, expanded into points
//! (the Cartesian product, the last axis varying fastest).
//!
//! Names are the detector's upstream parameter names as `scanbench list`
//! prints them. Every point is configured through the registry before
//! anything runs, so an unknown name lists the valid ones and a value out of
//! range names the range the detector accepts.
//!
//! Ranges are decimal: `0.1..0.3:0.05` gives `0.1, 0.15, 0.2, 0.25, 0.3`
//! exactly (the arithmetic is done on scaled integers, never on floats).

use scanbench_detector::params::split_spec;
use scanbench_detector::registry;

use crate::error::{Error, Result};

/// Most points one sweep may have: a typo such as `1..1000000` fails at once
/// instead of exhausting memory.
pub const MAX_POINTS: usize = 10_000;

/// One swept parameter and its values, in sweep order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The parameter's upstream name (lower-cased).
    pub name: String,
    /// Its values as the detector reads them.
    pub values: Vec<String>,
}

/// One grid point: a value per axis, and the detector spec it gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// One value per axis, in axis order.
    pub values: Vec<String>,
    /// `name:fixed...,axis=value,...`, as `--detectors` takes it.
    pub spec: String,
    /// The full configuration (every parameter, defaults filled in).
    pub config: String,
}

impl Point {
    /// `name=value` per axis, joined by `,` (a point's label).
    pub fn label(&self, axes: &[Axis]) -> String {
        axes.iter()
            .zip(&self.values)
            .map(|(a, v)| format!("{}={v}", a.name))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A detector with swept parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    /// The detector spec the sweep starts from (`sfportscan:proto=all`).
    pub base: String,
    /// The swept parameters.
    pub axes: Vec<Axis>,
    /// Every point, the last axis varying fastest.
    pub points: Vec<Point>,
}

fn bad(what: &str, message: impl std::fmt::Display) -> Error {
    Error::Argument(format!("--param {what}: {message}"))
}

impl Grid {
    /// Builds the grid of `base` (a detector spec) over `params`
    /// (`NAME=FROM..TO[:STEP]` or `NAME=V1,V2,...`).
    ///
    /// # Errors
    /// [`Error::Argument`] for malformed `--param` text, a parameter swept twice
    /// or also fixed in `base`, or more than [`MAX_POINTS`] points;
    /// [`Error::Detector`] for an unknown detector or parameter (listing the
    /// valid names) or a value the detector rejects (naming what it accepts).
    pub fn new(base: &str, params: &[String]) -> Result<Grid> {
        let (name, fixed) = split_spec(base)?;
        let info = registry::info(&name)?;
        if params.is_empty() {
            return Err(Error::Argument(format!(
                "a sweep needs at least one --param NAME=FROM..TO[:STEP] or NAME=V1,V2,...; parameters of `{name}`: {}",
                info.params
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut axes: Vec<Axis> = Vec::new();
        for text in params {
            let axis = parse_axis(text)?;
            if !info.params.iter().any(|p| p.name == axis.name) {
                // The registry's error lists the valid names.
                info.configure(&[(axis.name.clone(), axis.values[0].clone())])?;
            }
            if axes.iter().any(|a| a.name == axis.name) {
                return Err(bad(text, format!("`{}` is swept twice", axis.name)));
            }
            if fixed
                .iter()
                .any(|(k, _)| k.to_ascii_lowercase() == axis.name)
            {
                return Err(bad(
                    text,
                    format!("`{}` is also fixed in `{base}`", axis.name),
                ));
            }
            axes.push(axis);
        }
        let count = axes
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
            .filter(|&n| n <= MAX_POINTS)
            .ok_or_else(|| {
                Error::Argument(format!(
                    "--param: the grid has more than {MAX_POINTS} points"
                ))
            })?;
        let mut points = Vec::with_capacity(count);
        for i in 0..count {
            let mut rest = i;
            let mut values = vec![String::new(); axes.len()];
            for (k, a) in axes.iter().enumerate().rev() {
                values[k] = a.values[rest % a.values.len()].clone();
                rest /= a.values.len();
            }
            let mut pairs = fixed.clone();
            pairs.extend(
                axes.iter()
                    .zip(&values)
                    .map(|(a, v)| (a.name.clone(), v.clone())),
            );
            let config = info.configure(&pairs)?.config;
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            points.push(Point {
                values,
                spec: format!("{name}:{}", body.join(",")),
                config,
            });
        }
        Ok(Grid {
            base: base.trim().to_string(),
            axes,
            points,
        })
    }

    /// The detector's registry name.
    pub fn detector(&self) -> &str {
        self.points[0]
            .spec
            .split_once(':')
            .map_or(&self.points[0].spec, |(n, _)| n)
    }
}

/// Parses one `--param` into an axis.
fn parse_axis(text: &str) -> Result<Axis> {
    let (name, rhs) = text
        .split_once('=')
        .ok_or_else(|| bad(text, "expected NAME=FROM..TO[:STEP] or NAME=V1,V2,..."))?;
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Err(bad(text, "the parameter name is empty"));
    }
    let values = if let Some((from, to)) = rhs.split_once("..") {
        let (to, step) = match to.split_once(':') {
            Some((t, s)) => (t, Some(s)),
            None => (to, None),
        };
        range(text, from, to, step)?
    } else {
        let values: Vec<String> = rhs.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(bad(text, "empty value in the list"));
        }
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(bad(text, format!("`{v}` is listed twice")));
            }
        }
        values
    };
    if values.len() > MAX_POINTS {
        return Err(bad(text, format!("more than {MAX_POINTS} values")));
    }
    Ok(Axis { name, values })
}

/// A decimal number as `mantissa * 10^-scale`.
#[derive(Clone, Copy, Debug)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

/// Digits after the point we accept: enough for any detector parameter, and
/// `10^scale * 10^18` still fits an `i128`.
const MAX_SCALE: u32 = 9;

impl Decimal {
    fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || int.len() > 18
            || frac.len() > MAX_SCALE as usize
        {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa * 10 + i128::from(b - b'0');
        }
        Some(Decimal {
            mantissa: if neg { -mantissa } else { mantissa },
            scale: frac.len() as u32,
        })
    }

    fn rescaled(self, scale: u32) -> i128 {
        self.mantissa * 10i128.pow(scale - self.scale)
    }
}

/// Formats `mantissa * 10^-scale` without trailing zeros.
fn format_decimal(mantissa: i128, scale: u32) -> String {
    let unit = 10i128.pow(scale);
    let sign = if mantissa < 0 { "-" } else { "" };
    let (int, frac) = (mantissa.abs() / unit, mantissa.abs() % unit);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:0width$}", width = scale as usize);
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

fn range(text: &str, from: &str, to: &str, step: Option<&str>) -> Result<Vec<String>> {
    let num = |s: &str, what: &str| {
        Decimal::parse(s).ok_or_else(|| {
            bad(
                text,
                format!(
                    "{what} `{}` is not a number (at most 18 digits and {MAX_SCALE} decimals); \
                     for words, list the values: NAME=V1,V2,...",
                    s.trim()
                ),
            )
        })
    };
    let from = num(from, "FROM")?;
    let to = num(to, "TO")?;
    let step = match step {
        Some(s) => num(s, "STEP")?,
        None => Decimal {
            mantissa: 1,
            scale: 0,
        },
    };
    let scale = from.scale.max(to.scale).max(step.scale);
    let (a, b, d) = (
        from.rescaled(scale),
        to.rescaled(scale),
        step.rescaled(scale),
    );
    if d <= 0 {
        return Err(bad(text, "STEP must be positive"));
    }
    if a > b {
        return Err(bad(text, "FROM must not exceed TO"));
    }
    let count = (b - a) / d + 1;
    if count > MAX_POINTS as i128 {
        return Err(bad(text, format!("more than {MAX_POINTS} values")));
    }
    Ok((0..count)
        .map(|i| format_decimal(a + i * d, scale))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<String> {
        parse_axis(text).unwrap().values
    }

    #[test]
    fn integer_and_decimal_ranges_are_exact() {
        assert_eq!(values("t=9..21:3"), ["9", "12", "15", "18", "21"]);
        assert_eq!(values("t=1..3"), ["1", "2", "3"]);
        assert_eq!(
            values("p=0.1..0.3:0.05"),
            ["0.1", "0.15", "0.2", "0.25", "0.3"]
        );
        // TO need not be on the grid.
        assert_eq!(values("t=0..10:4"), ["0", "4", "8"]);
        assert_eq!(values("t=-1..1"), ["-1", "0", "1"]);
    }

    #[test]
    fn lists_keep_their_order() {
        assert_eq!(values("sense_level=high,low"), ["high", "low"]);
    }

    #[test]
    fn malformed_params_say_what_is_expected() {
        for (text, msg) in [
            ("t", "expected NAME=FROM..TO"),
            ("=1,2", "name is empty"),
            ("t=1,,2", "empty value"),
            ("t=1,1", "listed twice"),
            ("t=a..b", "is not a number"),
            ("t=3..1", "FROM must not exceed TO"),
            ("t=1..3:0", "STEP must be positive"),
            ("t=1..3:-1", "STEP must be positive"),
            ("t=0..1000000", "more than 10000 values"),
            ("t=0..1:0.0000000001", "is not a number"),
            ("t=0..99999999999999999999", "is not a number"),
        ] {
            let err = parse_axis(text).unwrap_err().to_string();
            assert!(err.contains(msg), "{text}: {err}");
        }
    }

    #[test]
    fn grid_is_the_product_with_the_last_axis_fastest() {
        let g = Grid::new(
            "sfportscan:proto=all",
            &["sense_level=low,high".into(), "memcap=20000,30000".into()],
        )
        .unwrap();
        let labels: Vec<String> = g.points.iter().map(|p| p.label(&g.axes)).collect();
        assert_eq!(
            labels,
            [
                "sense_level=low,memcap=20000",
                "sense_level=low,memcap=30000",
                "sense_level=high,memcap=20000",
                "sense_level=high,memcap=30000"
            ]
        );
        assert_eq!(
            g.points[1].spec,
            "sfportscan:proto=all,sense_level=low,memcap=30000"
        );
        assert!(g.points[1].config.contains("memcap=30000"));
        assert_eq!(g.detector(), "sfportscan");
    }

    #[test]
    fn unknown_names_and_bad_values_list_the_valid_ones() {
        let err = Grid::new("scanlogd", &["nope=1,2".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("valid parameters: port_weight_priv"), "{err}");
        let err = Grid::new("scanlogd", &["scan_weight_threshold=0..3".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 1..=1048576"), "{err}");
        let err = Grid::new("sfportscan", &["sense_level=low,extreme".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected one of: low, medium, high"), "{err}");
        let err = Grid::new("nosuch", &["a=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("valid detectors: screenos"), "{err}");
        let err = Grid::new("scanlogd", &[]).unwrap_err().to_string();
        assert!(
            err.contains("parameters of `scanlogd`: port_weight_priv"),
            "{err}"
        );
        let err = Grid::new("scanlogd:hash_max=8", &["hash_max=4,8".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("also fixed"), "{err}");
        let err = Grid::new(
            "scanlogd",
            &["hash_max=1..200".into(), "list_size=1..200".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("more than 10000 points"), "{err}");
    }
}
