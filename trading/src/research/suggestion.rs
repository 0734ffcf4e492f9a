//! The suggestion an assessment leaves for the next design, in a form both a person and the
//! designer read: a tag, a colon, and prose (`more_trades: lower the confidence threshold …`). The
//! built-in designer's mutation honours the tag; an external designer gets the whole text.

/// What the next design should change, as the assessment judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggestion {
    /// A class is never predicted, or accuracy is no better than always answering the commonest
    /// class: relabel (another ZigZag threshold or lookahead).
    RetuneLabels,
    /// Validation and test disagree: more dropout, a smaller network, fewer lags.
    Regularize,
    /// Too few trades to judge: a lower confidence threshold, shorter separation.
    MoreTrades,
    /// Losing trades outweigh the winners: another indicator or other fuzzy sets.
    Enrich,
    /// A strong result: small steps (periods, fuzzy sets) around it.
    Refine,
    /// Nothing in particular: any change.
    Explore,
}

impl Suggestion {
    pub const ALL: [Suggestion; 6] = [
        Suggestion::RetuneLabels,
        Suggestion::Regularize,
        Suggestion::MoreTrades,
        Suggestion::Enrich,
        Suggestion::Refine,
        Suggestion::Explore,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            Suggestion::RetuneLabels => "retune_labels",
            Suggestion::Regularize => "regularize",
            Suggestion::MoreTrades => "more_trades",
            Suggestion::Enrich => "enrich",
            Suggestion::Refine => "refine",
            Suggestion::Explore => "explore",
        }
    }

    fn prose(self) -> &'static str {
        match self {
            Suggestion::RetuneLabels => {
                "relabel with another ZigZag threshold or lookahead, so that every class is \
                 learnable"
            }
            Suggestion::Regularize => {
                "regularise: more dropout, a smaller network or fewer lags, so that validation and \
                 test agree"
            }
            Suggestion::MoreTrades => {
                "lower the confidence threshold or the bars between trades, so that there are \
                 enough trades to judge"
            }
            Suggestion::Enrich => {
                "add an indicator or move a fuzzy set, so that the signals that trade become \
                 profitable"
            }
            Suggestion::Refine => "refine around it: nearby periods and fuzzy sets",
            Suggestion::Explore => "change anything: periods, fuzzy sets, the model or the labels",
        }
    }

    /// The suggestion as stored: `<tag>: <prose>`.
    pub fn text(self) -> String {
        format!("{}: {}", self.tag(), self.prose())
    }

    /// The tag at the start of a stored suggestion; `None` for text without a known tag (an
    /// external assessor's prose).
    pub fn parse(text: &str) -> Option<Suggestion> {
        let tag = text.split(':').next()?.trim();
        Suggestion::ALL
            .into_iter()
            .find(|suggestion| suggestion.tag() == tag)
    }
}
