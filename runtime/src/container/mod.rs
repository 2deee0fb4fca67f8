//! Container state on disk (`<root>/<id>/state.json`) and the lifecycle verbs, one
//! file per verb.
