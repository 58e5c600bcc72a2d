using System.Text.RegularExpressions;
using Sockeye.Cli;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

public partial class VersionCommandTests
{
    [Fact]
    public async Task VersionPrintsThePackageVersionAndTheCommitItWasBuiltFrom()
    {
        var (exitCode, stdout, stderr) = await CliProcess.RunAsync("--version");

        Assert.Equal(0, exitCode);
        Assert.Equal("", stderr);
        // This repository is a git checkout, so the build knows its commit: 40 hex digits, not "unknown".
        Assert.Matches(VersionLine(), stdout.Trim());
    }

    [Theory]
    [InlineData("0.1.0-preview.1+cacab085dccc9a8eb46c58de02b8f265c517178a", "sockeye 0.1.0-preview.1 (commit cacab085dccc9a8eb46c58de02b8f265c517178a)")]
    [InlineData("1.2.3", "sockeye 1.2.3 (commit unknown)")]
    [InlineData(null, "sockeye (version unknown)")]
    public void TheVersionLineSplitsTheCommitFromTheVersion(string? informationalVersion, string expected)
    {
        Assert.Equal(expected, VersionText.Describe(informationalVersion));
    }

    [GeneratedRegex(@"^sockeye \d+\.\d+\.\d+(-[0-9A-Za-z.]+)? \(commit [0-9a-f]{40}\)$")]
    private static partial Regex VersionLine();
}
