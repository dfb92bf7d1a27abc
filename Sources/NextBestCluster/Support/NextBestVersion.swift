/// nextbest's version: the one place it is written. `nextbest --version` prints `software`, workers
/// announce it in HELLO, and later metrics (`nextbest_build_info`) and reports take it from here.
///
/// No git commit is included: SwiftPM offers no cheap way to stamp one at build time (it would take a
/// build-tool plugin running git on every build), so the version number is the whole identity.
public enum NextBestVersion {
    /// The version number, `MAJOR.MINOR`.
    public static let number = "0.4"
    /// The software name and version, as printed and announced: `nextbest 0.4`.
    public static let software = "nextbest " + number
}
