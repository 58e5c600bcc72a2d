using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;

namespace Sockeye.Cli;

/// <summary>What <c>sockeye --version</c> prints: the package version and the commit it was built from.</summary>
/// <remarks>The SDK stamps the commit into the assembly's informational version as SemVer build metadata
/// (<c>0.1.0-preview.1+cacab08…</c>, from git at build time); System.CommandLine's own version option
/// prints that string whole, which reads as one opaque word, so the commit is spelled out.</remarks>
internal static class VersionText
{
    /// <summary>The version line of this executable.</summary>
    public static string Current =>
        Describe(typeof(VersionText).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);

    /// <summary>Turns an informational version (<c>VERSION[+COMMIT]</c>) into the printed line.</summary>
    public static string Describe(string? informationalVersion)
    {
        if (string.IsNullOrEmpty(informationalVersion))
            return "sockeye (version unknown)";
        var plus = informationalVersion.IndexOf('+', StringComparison.Ordinal);
        // A build outside git (a source tarball) has no commit: say so rather than print nothing.
        return plus < 0
            ? $"sockeye {informationalVersion} (commit unknown)"
            : $"sockeye {informationalVersion[..plus]} (commit {informationalVersion[(plus + 1)..]})";
    }

    /// <summary>The action behind <c>--version</c>: prints <see cref="Current"/> and exits 0.</summary>
    public sealed class PrintAction : SynchronousCommandLineAction
    {
        /// <inheritdoc />
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Current);
            return 0;
        }
    }
}
