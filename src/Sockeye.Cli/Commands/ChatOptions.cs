using System.CommandLine;
using Microsoft.Extensions.Logging;
using Sockeye.Cli.Observability;
using Sockeye.Fanout;
using Sockeye.Redis;

namespace Sockeye.Cli.Commands;

/// <summary>The options only <c>sockeye serve chat</c> has: the longest line, and each connection's
/// send queue (the slow-consumer policy, <see cref="SendQueueOptions"/>), and the backplane that carries
/// rooms' lines to other instances.</summary>
internal sealed class ChatOptions
{
    private readonly Option<long> _maxLine = CliOptions.Size("--max-frame-size", 4096, "Longest command line, without its \\n; a longer one gets 'ERR line too long' and the connection is closed");
    private readonly Option<long> _hard = CliOptions.Size("--send-queue-limit", SendQueueOptions.Default.HardLimit, "Most bytes queued for one client; past it the client is disconnected as a slow consumer (or messages dropped, see --send-queue-overflow)");
    private readonly Option<long> _soft = CliOptions.Size("--send-queue-soft-limit", SendQueueOptions.Default.SoftLimit, "Queued bytes a client may stay above for --send-queue-soft-time before it is disconnected (0: off; default 8 MiB, or --send-queue-limit if lower)");
    private readonly Option<TimeSpan> _softTime = CliOptions.Duration("--send-queue-soft-time", SendQueueOptions.Default.SoftLimitTime, "How long a client may stay above --send-queue-soft-limit");
    private readonly Option<string> _overflow = new("--send-queue-overflow")
    {
        Description = "What a full queue does: disconnect (the slow consumer; default), drop-newest or drop-oldest (keep the client, lose messages)",
        DefaultValueFactory = _ => "disconnect",
    };

    private readonly Option<string?> _backplane = new("--backplane")
    {
        Description = "Share rooms with other instances through Redis pub/sub: redis://HOST:PORT (optionally /?channel-prefix=NAME); a room's line then reaches its members on every instance (default: this process's members only)",
    };

    private readonly Option<bool> _backplaneRequired = new("--backplane-required")
    {
        Description = "/readyz answers 503 while the --backplane is not connected (default: 200, and the body says the backplane is down)",
    };

    public void AddTo(Command command)
    {
        _backplane.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string?>();
            if (value is not null && !RedisBackplaneOptions.TryParse(value, out _, out var error))
            {
                r.AddError($"--backplane must be redis://HOST:PORT (optionally /?channel-prefix=NAME), got '{value}': {error}");
            }
        });
        _maxLine.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && Parsing.ByteSize.TryParse(r.Tokens[0].Value, out var value, out _) && value is < 16 or > 1024 * 1024)
            {
                r.AddError($"--max-frame-size must be between 16 B and 1 MiB, got {r.Tokens[0].Value}");
            }
        });
        _hard.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && Parsing.ByteSize.TryParse(r.Tokens[0].Value, out var value, out _) && value < 1)
            {
                r.AddError($"--send-queue-limit must be at least 1 byte, got {r.Tokens[0].Value}");
            }
        });
        _overflow.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (ParseOverflow(value) is null)
            {
                r.AddError($"--send-queue-overflow must be disconnect, drop-newest or drop-oldest, got '{value}'");
            }
        });
        command.Validators.Add(r =>
        {
            // Only a soft limit given on the command line can be wrong: the default follows a lower hard limit.
            // (An option not given has no result yet when this runs: GetValue would answer 0, not the default.)
            var hard = r.GetResult(_hard) is null ? SendQueueOptions.Default.HardLimit : r.GetValue(_hard);
            if (r.GetResult(_soft) is { Implicit: false } && r.GetValue(_soft) is var soft && soft > hard)
            {
                r.AddError($"--send-queue-soft-limit ({soft} bytes) must not be above --send-queue-limit ({hard} bytes)");
            }
        });
        command.Validators.Add(r =>
        {
            if (r.GetValue(_backplaneRequired) && r.GetValue(_backplane) is null)
            {
                r.AddError("--backplane-required needs --backplane redis://HOST:PORT");
            }
        });
        command.Options.Add(_backplane);
        command.Options.Add(_backplaneRequired);
        command.Options.Add(_maxLine);
        command.Options.Add(_hard);
        command.Options.Add(_soft);
        command.Options.Add(_softTime);
        command.Options.Add(_overflow);
    }

    public int MaxLine(ParseResult parse) => (int)parse.GetValue(_maxLine);

    public SendQueueOptions SendQueue(ParseResult parse) => new()
    {
        HardLimit = parse.GetValue(_hard),
        SoftLimit = parse.GetResult(_soft) is { Implicit: false } ? parse.GetValue(_soft) : Math.Min(parse.GetValue(_soft), parse.GetValue(_hard)),
        SoftLimitTime = parse.GetValue(_softTime),
        Overflow = ParseOverflow(parse.GetValue(_overflow)) ?? QueueOverflow.Disconnect,
    };

    /// <summary>The rooms, over the <c>--backplane</c> if one was given.</summary>
    public Chat.ChatRooms Rooms(ParseResult parse, ILoggerFactory loggerFactory) =>
        parse.GetValue(_backplane) is { } url && RedisBackplaneOptions.TryParse(url, out var options, out _)
            ? new Chat.ChatRooms(new RedisGroupBackplane(options, loggerFactory), loggerFactory)
            : new Chat.ChatRooms();

    /// <summary>The <c>/readyz</c> line about the backplane (null without <c>--backplane</c>): its state,
    /// and a 503 while it is not connected if <c>--backplane-required</c>.</summary>
    public Func<ReadinessLine>? Readiness(ParseResult parse, Chat.ChatRooms rooms)
    {
        if (parse.GetValue(_backplane) is null)
        {
            return null;
        }

        var required = parse.GetValue(_backplaneRequired);
        return () =>
        {
            var state = rooms.Broadcaster.State;
            var line = $"backplane: {state.ToString().ToLowerInvariant()}";
            return new ReadinessLine(line, required && state != BackplaneState.Connected ? $"the backplane is {state.ToString().ToLowerInvariant()} (--backplane-required)" : null);
        };
    }

    private static QueueOverflow? ParseOverflow(string? value) => value switch
    {
        "disconnect" => QueueOverflow.Disconnect,
        "drop-newest" => QueueOverflow.DropNewest,
        "drop-oldest" => QueueOverflow.DropOldest,
        _ => null,
    };
}
