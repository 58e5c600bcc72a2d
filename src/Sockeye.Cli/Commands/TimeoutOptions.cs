using System.CommandLine;

namespace Sockeye.Cli.Commands;

/// <summary>
/// The timeout and buffer options a serving command takes (<c>--idle-timeout</c>, <c>--read-timeout</c>,
/// <c>--write-timeout</c>, <c>--max-read-buffer</c>, <c>--max-write-buffer</c>), and how they map onto
/// <see cref="TcpServerOptions"/>. Defaults are the library's.
/// </summary>
internal sealed class TimeoutOptions
{
    private static readonly TcpServerOptions Defaults = new();

    public Option<TimeSpan> IdleTimeout { get; } = CliOptions.Duration("--idle-timeout", Defaults.IdleTimeout,
        "Close a connection that receives nothing for this long");

    public Option<TimeSpan> ReadTimeout { get; } = CliOptions.Duration("--read-timeout", Defaults.ReadTimeout,
        "Close a connection whose handler waits longer than this for one read (a whole request)");

    public Option<TimeSpan> WriteTimeout { get; } = CliOptions.Duration("--write-timeout", Defaults.WriteTimeout,
        "Close a connection whose peer does not read for this long while output waits");

    public Option<long> MaxReadBuffer { get; } = BufferSize("--max-read-buffer", Defaults.MaxReadBufferSize,
        "Stop reading from a peer when this much input is unconsumed (0 for no limit)");

    public Option<long> MaxWriteBuffer { get; } = BufferSize("--max-write-buffer", Defaults.MaxWriteBufferSize,
        "Pause the handler when this much output waits for a slow peer (0 for no limit)");

    /// <summary>Adds every option to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(IdleTimeout);
        command.Options.Add(ReadTimeout);
        command.Options.Add(WriteTimeout);
        command.Options.Add(MaxReadBuffer);
        command.Options.Add(MaxWriteBuffer);
    }

    /// <summary>Copies the parsed values onto <paramref name="options"/>.</summary>
    public void Apply(ParseResult parse, TcpServerOptions options)
    {
        options.IdleTimeout = parse.GetValue(IdleTimeout);
        options.ReadTimeout = parse.GetValue(ReadTimeout);
        options.WriteTimeout = parse.GetValue(WriteTimeout);
        options.MaxReadBufferSize = NoLimitIfZero(parse.GetValue(MaxReadBuffer));
        options.MaxWriteBufferSize = NoLimitIfZero(parse.GetValue(MaxWriteBuffer));
    }

    // Sizes parse as whole non-negative numbers only (ByteSize), so no range check is needed here.
    private static Option<long> BufferSize(string name, long? defaultValue, string description) =>
        CliOptions.Size(name, defaultValue ?? 0, description);

    private static long? NoLimitIfZero(long value) => value == 0 ? null : value;
}
