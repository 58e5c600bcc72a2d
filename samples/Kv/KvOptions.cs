using System.Globalization;
using System.Net;
using Sockeye.Samples.Kv.Resp;

namespace Sockeye.Samples.Kv;

/// <summary>The command line: <c>--port</c> (default 6380), <c>--host</c> (127.0.0.1), <c>--max-bulk</c>
/// (bytes, with an optional kb/mb/gb suffix as in redis.conf; default 512mb), <c>--max-array</c>
/// (1048576), <c>--max-clients</c> (10000), <c>--metrics-port</c> (off), <c>--drain-timeout</c>
/// (seconds, 10).</summary>
internal sealed class KvOptions
{
    public IPAddress Host { get; private set; } = IPAddress.Loopback;

    public int Port { get; private set; } = 6380;

    public RespLimits Limits { get; private set; } = RespLimits.Default;

    public int MaxClients { get; private set; } = 10_000;

    public int? MetricsPort { get; private set; }

    public TimeSpan DrainTimeout { get; private set; } = TimeSpan.FromSeconds(10);

    /// <summary>Reads <paramref name="args"/>; a bad one throws <see cref="ArgumentException"/> whose
    /// message is the one line to print (it names the option, the value and the allowed range).</summary>
    public static KvOptions Parse(string[] args)
    {
        var options = new KvOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Length)
            {
                throw new ArgumentException(name.StartsWith("--", StringComparison.Ordinal) ? $"{name} needs a value" : $"unexpected argument '{name}'");
            }

            var value = args[++i];
            switch (name)
            {
                case "--port":
                    options.Port = (int)Integer(name, value, 0, 65535);
                    break;
                case "--host":
                    options.Host = IPAddress.TryParse(value, out var host) ? host : throw new ArgumentException($"--host must be an IP address, got '{value}'");
                    break;
                case "--max-bulk":
                    options.Limits = options.Limits with { MaxBulk = Size(name, value, 1, Array.MaxLength) };
                    break;
                case "--max-array":
                    options.Limits = options.Limits with { MaxArray = (int)Integer(name, value, 1, int.MaxValue) };
                    break;
                case "--max-clients":
                    options.MaxClients = (int)Integer(name, value, 1, 1_000_000);
                    break;
                case "--metrics-port":
                    options.MetricsPort = (int)Integer(name, value, 0, 65535);
                    break;
                case "--drain-timeout":
                    options.DrainTimeout = TimeSpan.FromSeconds(Integer(name, value, 0, 3600));
                    break;
                default:
                    throw new ArgumentException($"unknown option '{name}' (known: --port --host --max-bulk --max-array --max-clients --metrics-port --drain-timeout)");
            }
        }

        return options;
    }

    private static long Integer(string name, string value, long min, long max) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} must be an integer between {min} and {max}, got '{value}'");

    private static long Size(string name, string value, long min, long max)
    {
        var lower = value.ToLowerInvariant();
        var (digits, unit) = lower switch
        {
            _ when lower.EndsWith("gb", StringComparison.Ordinal) => (lower[..^2], 1L << 30),
            _ when lower.EndsWith("mb", StringComparison.Ordinal) => (lower[..^2], 1L << 20),
            _ when lower.EndsWith("kb", StringComparison.Ordinal) => (lower[..^2], 1L << 10),
            _ => (lower, 1L),
        };
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= max / unit && n * unit >= min && n * unit <= max
            ? n * unit
            : throw new ArgumentException($"{name} must be a size between {min} and {max} bytes (suffix kb, mb or gb allowed), got '{value}'");
    }
}
