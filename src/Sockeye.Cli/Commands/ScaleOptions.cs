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

    /// <summary>The option bounding how long a rolling restart waits for each new worker.</summary>
    public const string ReadyTimeoutOption = "--ready-timeout";

    public Option<TimeSpan> ReadyTimeout { get; } = CliOptions.Duration(ReadyTimeoutOption, TimeSpan.FromSeconds(60),
        "With --processes, how long a rolling restart (SIGHUP) waits for each new worker to listen; one that does not is killed and the old one kept");

    /// <summary>The hidden option an upgrading supervisor gives its successor: the pipe to report ready on.</summary>
    public const string UpgradeReadyFdOption = "--upgrade-ready-fd";

    public Option<int?> UpgradeReadyFd { get; } = new(UpgradeReadyFdOption) { Hidden = true };

    /// <summary>The option naming an inherited listening socket; also what the supervisor passes its workers.</summary>
    public const string ListenFdOption = "--listen-fd";

    public Option<int?> ListenFd { get; } = new(ListenFdOption)
    {
        Description = "Accept on this already-listening socket descriptor instead of binding --host/--port (inherited from a supervisor or systemd; " +
            "without it, systemd's LISTEN_FDS sockets are used when LISTEN_PID is this process)",
    };

    /// <summary>Adds every option to <paramref name="command"/>, with the checks that need more than one of them.</summary>
    public void AddTo(Command command, Option<string?> unixPath)
    {
        command.Options.Add(Acceptors);
        command.Options.Add(SharePort);
        command.Options.Add(Processes);
        command.Options.Add(Supervised);
        command.Options.Add(ListenFd);
        command.Options.Add(ReadyTimeout);
        command.Options.Add(UpgradeReadyFd);
        ListenFd.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is not { } fd)
            {
                return;
            }

            if (fd < 0)
            {
                r.AddError($"--listen-fd must be a descriptor number (0 or more), got {fd}");
                return;
            }

            try
            {
                Server.ListenDescriptor.Check(fd);
            }
            catch (Exception ex) when (ex is IOException or PlatformNotSupportedException)
            {
                r.AddError($"--listen-fd {fd}: {ex.Message}");
            }
        });
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

            if (r.GetValue(ListenFd) is { } fd && r.GetValue(unixPath) is { } path)
            {
                r.AddError($"--listen-fd {fd} cannot be combined with --unix {path}: the descriptor is already a listening socket");
            }
        });
    }

    /// <summary>Copies the parsed values onto <paramref name="options"/>.</summary>
    public void Apply(ParseResult parse, TcpServerOptions options)
    {
        options.AcceptorCount = parse.GetValue(Acceptors);
        options.SharePort = parse.GetValue(SharePort);
        options.ListenFd = parse.GetValue(ListenFd);

        // A supervisor's workers share its one listener: a full worker leaves new connections queued
        // for a sibling with room instead of resetting them (bench/c1m found one worker at its limit
        // resetting while the others held 13,000-17,000 of 19,000).
        options.WaitWhenFull = parse.GetValue(Supervised);
    }

    /// <summary>
    /// Without <c>--listen-fd</c>, takes systemd's socket (<see cref="SocketActivation"/>) when
    /// <c>LISTEN_PID</c> is this process, and sets <see cref="TcpServerOptions.ListenFd"/> to it.
    /// </summary>
    /// <returns>The one-line error for stderr (exit code 2), or <see langword="null"/>.</returns>
    public static string? UseActivatedSocket(TcpServerOptions options)
    {
        if (options.ListenFd is not null || !SocketActivation.IsActivated)
        {
            return null;
        }

        IReadOnlyList<ActivatedSocket> sockets;
        try
        {
            sockets = SocketActivation.TakeListeners();
        }
        catch (InvalidOperationException ex)
        {
            return ex.Message;
        }

        if (sockets.Count != 1)
        {
            return $"LISTEN_FDS must pass exactly one socket to 'sockeye serve', got {sockets.Count}" +
                (sockets.Count > 1 ? $" ({string.Join(", ", sockets.Select(s => $"{s.Fd}={s.Name}"))}); use --listen-fd N to choose one" : "");
        }

        try
        {
            Server.ListenDescriptor.Check(sockets[0].Fd);
        }
        catch (IOException ex)
        {
            return $"LISTEN_FDS: {ex.Message}";
        }

        options.ListenFd = sockets[0].Fd;
        return null;
    }

    /// <summary>How many workers to supervise; <see langword="null"/> when this process serves itself.</summary>
    public int? WorkerCount(ParseResult parse) => parse.GetValue(Processes);

    /// <summary>Whether this process is a supervisor's worker.</summary>
    public bool IsSupervised(ParseResult parse) => parse.GetValue(Supervised);
}
