//! Fuzzy membership functions over an indicator output: triangular `[a, b, c]` (0 at a, 1 at b, 0 at
//! c) and trapezoidal `[a, b, c, d]` (rising a→b, 1 from b to c, falling c→d). A vertical edge (a = b,
//! or c = d) is allowed: the function is 1 at that point, so `[0, 0, 30]` means "fully low at 0".

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<f64>", into = "Vec<f64>")]
pub enum MembershipFunction {
    Triangular([f64; 3]),
    Trapezoidal([f64; 4]),
}

impl MembershipFunction {
    /// Degree of membership of `x`, in [0, 1]; NaN stays NaN (no data yet).
    pub fn membership(&self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        let (a, b, c, d) = match *self {
            MembershipFunction::Triangular([a, b, c]) => (a, b, b, c),
            MembershipFunction::Trapezoidal([a, b, c, d]) => (a, b, c, d),
        };
        if x < a || x > d {
            0.0
        } else if x < b {
            (x - a) / (b - a)
        } else if x <= c {
            1.0
        } else {
            (d - x) / (d - c)
        }
    }
}

impl TryFrom<Vec<f64>> for MembershipFunction {
    type Error = String;

    fn try_from(points: Vec<f64>) -> Result<Self, String> {
        if points.iter().any(|p| !p.is_finite()) {
            return Err(format!(
                "membership points must be finite numbers, got {points:?}"
            ));
        }
        if points.windows(2).any(|pair| pair[0] > pair[1]) {
            return Err(format!(
                "membership points must be in ascending order, got {points:?}"
            ));
        }
        if points.first() == points.last() {
            return Err(format!(
                "membership points must span a range, got {points:?}"
            ));
        }
        match points[..] {
            [a, b, c] => Ok(MembershipFunction::Triangular([a, b, c])),
            [a, b, c, d] => Ok(MembershipFunction::Trapezoidal([a, b, c, d])),
            _ => Err(format!(
                "expected 3 points (triangular [a, b, c]) or 4 (trapezoidal [a, b, c, d]), got {}",
                points.len()
            )),
        }
    }
}

impl From<MembershipFunction> for Vec<f64> {
    fn from(function: MembershipFunction) -> Vec<f64> {
        match function {
            MembershipFunction::Triangular(points) => points.to_vec(),
            MembershipFunction::Trapezoidal(points) => points.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MembershipFunction::{self, *};

    fn parse(points: &[f64]) -> Result<MembershipFunction, String> {
        MembershipFunction::try_from(points.to_vec())
    }

    #[test]
    fn triangular_edges_and_peak() {
        let f = Triangular([0.0, 10.0, 20.0]);
        assert_eq!(f.membership(-0.1), 0.0);
        assert_eq!(f.membership(0.0), 0.0);
        assert_eq!(f.membership(5.0), 0.5);
        assert_eq!(f.membership(10.0), 1.0);
        assert_eq!(f.membership(15.0), 0.5);
        assert_eq!(f.membership(20.0), 0.0);
        assert_eq!(f.membership(20.1), 0.0);
        assert!(f.membership(f64::NAN).is_nan());
    }

    #[test]
    fn trapezoidal_plateau_and_vertical_edges() {
        let f = Trapezoidal([0.0, 10.0, 20.0, 40.0]);
        assert_eq!(f.membership(10.0), 1.0);
        assert_eq!(f.membership(20.0), 1.0);
        assert_eq!(f.membership(30.0), 0.5);
        let shoulder = Triangular([0.0, 0.0, 30.0]);
        assert_eq!(shoulder.membership(0.0), 1.0);
        assert_eq!(shoulder.membership(15.0), 0.5);
        let right = Trapezoidal([70.0, 85.0, 100.0, 100.0]);
        assert_eq!(right.membership(100.0), 1.0);
    }

    #[test]
    fn malformed_point_lists_are_refused() {
        assert!(
            parse(&[1.0, 2.0])
                .unwrap_err()
                .contains("expected 3 points")
        );
        assert!(parse(&[3.0, 2.0, 4.0]).unwrap_err().contains("ascending"));
        assert!(
            parse(&[1.0, 1.0, 1.0])
                .unwrap_err()
                .contains("span a range")
        );
        assert!(parse(&[0.0, f64::NAN, 1.0]).unwrap_err().contains("finite"));
        assert_eq!(
            parse(&[0.0, 1.0, 2.0, 3.0]).unwrap(),
            Trapezoidal([0.0, 1.0, 2.0, 3.0])
        );
    }
}
