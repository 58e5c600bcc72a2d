using System.CommandLine;
using System.CommandLine.Help;
using Sockeye.Cli.Commands;

namespace Sockeye.Cli;

/// <summary>The <c>sockeye</c> executable: serve, bench and top.</summary>
public static class Program
{
    /// <summary>Exit code for bad command-line input.</summary>
    public const int UsageError = 2;

    /// <summary>Runs the command line; returns the process exit code.</summary>
    public static async Task<int> Main(string[] args)
    {
        // A named root rather than RootCommand, whose name is the assembly's (Sockeye.Cli).
        var root = new Command("sockeye", "Sockeye: high-concurrency TCP servers for .NET, and the tools to load-test and watch them.")
        {
            new HelpOption(),
            new VersionOption { Action = new VersionText.PrintAction() },
        };
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TopCommand.Create());

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line naming what was wrong, not a page of help: scripts read stderr too.
            // An unknown word explains more than the "required command" error it also causes.
            var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
            await Console.Error.WriteLineAsync($"sockeye: error: {error.Message} (see 'sockeye --help')").ConfigureAwait(false);
            return UsageError;
        }

        // Signals are handled by the commands themselves (graceful drain), not by the parser.
        var config = new InvocationConfiguration { ProcessTerminationTimeout = null };
        return await parse.InvokeAsync(config).ConfigureAwait(false);
    }
}
