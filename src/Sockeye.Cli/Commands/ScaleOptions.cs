using System.CommandLine;
using System.CommandLine.Parsing;

namespace Sockeye.Cli.Commands;

/// <summary>
/// The options a TCP serving command takes to use more cores and processes (<c>--acceptors</c>,
/// <c>--share-port</c>, <c>--processes</c>), and how they map onto <see cref="TcpServerOptions"/>.
/// </summary>
internal sealed class ScaleOptions
{
    /// <summary>The hidden option the supervisor gives its workers: end (drain) when stdin closes.</summary>
    public const string SupervisedOption = "--supervised";

    public Option<int> Acceptors { get; } = CliOptions.AtLeast("--acceptors", 1, TcpServerOptions.DefaultAcceptorCount,
        "Listening sockets on the one port, each with its own accept loop (SO_REUSEPORT; default: half the cores)");

    public Option<bool> SharePort { get; } = new("--share-port")
    {
        Description = "Share the port with other servers that also ask to (SO_REUSEPORT); without it, a port another server holds is refused",
    };

    public Option<int?> Processes { get; } = new("--processes")
    {
        Description = "Run N worker processes of this server on one port under a supervisor that restarts them (each may hold its own --max-connections; with --metrics-port M, worker i serves its metrics on M+i-1)",
    };

    public Option<bool> Supervised { get; } = new(SupervisedOption) { Hidden = true };

    /// <summary>Adds every option to <paramref name="command"/>, with the checks that need more than one of them.</summary>
    public void AddTo(Command command, Option<string?> unixPath)
    {
        command.Options.Add(Acceptors);
        command.Options.Add(SharePort);
        command.Options.Add(Processes);
        command.Options.Add(Supervised);
        Processes.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } n && n is < 1 or > 64)
            {
                r.AddError($"--processes must be between 1 and 64, got {n}");
            }
        });
        command.Validators.Add(r =>
        {
            if (r.GetValue(Processes) is not null && r.GetValue(unixPath) is not null)
            {
                r.AddError("--processes needs TCP: a --unix socket path has one listener and cannot be shared by processes");
            }
        });
    }

    /// <summary>Copies the parsed values onto <paramref name="options"/>.</summary>
    public void Apply(ParseResult parse, TcpServerOptions options)
    {
        options.AcceptorCount = parse.GetValue(Acceptors);
        options.SharePort = parse.GetValue(SharePort);
    }

    /// <summary>How many workers to supervise; <see langword="null"/> when this process serves itself.</summary>
    public int? WorkerCount(ParseResult parse) => parse.GetValue(Processes);

    /// <summary>Whether this process is a supervisor's worker.</summary>
    public bool IsSupervised(ParseResult parse) => parse.GetValue(Supervised);
}
