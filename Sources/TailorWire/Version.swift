/// Tailor's version: what tailord reports in Health and Hello, and what clients name
/// themselves with. One constant for both sides, in the module both link.
public let tailorVersion = "0.1.0"
