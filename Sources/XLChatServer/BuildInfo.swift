// What a plain `swift build` embeds: no commit. `scripts/release.sh` writes
// `BuildInfo.generated.swift` (git-ignored) beside this file with the commit it builds, and
// compiles with `-DXLCHAT_RELEASE_BUILD_INFO`, which swaps that file's definition in for this one.
// So a clone builds with nothing generated, and a release build cannot silently miss its commit.
#if !XLCHAT_RELEASE_BUILD_INFO
enum XLChatBuildInfo {
    static let commit: String? = nil
}
#endif
