using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Sockeye.Redis;

/// <summary>Where a <see cref="RedisGroupBackplane"/> connects and which channel its instances share.</summary>
public sealed class RedisBackplaneOptions
{
    /// <summary>The port a <c>redis://</c> URL without one means.</summary>
    public const int DefaultPort = 6379;

    /// <summary>The Redis server, <c>host:port</c> (a name or an IP address; an IPv6 address in brackets).</summary>
    public required string EndPoint { get; init; }

    /// <summary>Prepended to the channel's name (<see cref="Channel"/>), so several services can share one
    /// Redis: only instances with the same prefix see each other's broadcasts. Default <c>sockeye:</c>.</summary>
    public string ChannelPrefix { get; init; } = "sockeye:";

    /// <summary>The Redis user (ACL), or null for the default user.</summary>
    public string? User { get; init; }

    /// <summary>The password (<c>AUTH</c>), or null when the server asks for none.</summary>
    public string? Password { get; init; }

    /// <summary>How long one attempt to connect may take. Default 2 s.</summary>
    /// <remarks>Starting waits for the first attempt (so a reachable Redis is connected before the server
    /// accepts), at most this long; after that the backplane keeps trying in the background.</remarks>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest wait between two attempts to reconnect (they start at 100 ms and grow up to
    /// it). Default 2 s: the time after Redis is back until broadcasts cross again is about this.</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The one pub/sub channel every instance publishes to and subscribes to: <see cref="ChannelPrefix"/> + <c>groups</c>.</summary>
    public string Channel => ChannelPrefix + "groups";

    /// <summary>
    /// Reads a backplane URL: <c>redis://HOST:PORT</c>, optionally <c>redis://USER:PASSWORD@HOST:PORT</c>
    /// and <c>/?channel-prefix=NAME</c> (the port defaults to <see cref="DefaultPort"/>).
    /// </summary>
    /// <param name="url">The URL, as a user wrote it.</param>
    /// <param name="options">The options it means, when it is valid.</param>
    /// <param name="error">Why it is not, in a few words naming the bad part (for a message that also names the flag).</param>
    public static bool TryParse(string url, [NotNullWhen(true)] out RedisBackplaneOptions? options, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(url);
        options = null;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !url.Contains("://", StringComparison.Ordinal))
        {
            error = "not a URL";
            return false;
        }

        if (uri.Scheme != "redis")
        {
            error = $"the scheme must be redis, not {uri.Scheme}";
            return false;
        }

        if (uri.Host.Length == 0)
        {
            error = "no host";
            return false;
        }

        if (uri.AbsolutePath is not ("" or "/") || uri.Fragment.Length > 0)
        {
            error = $"unexpected path '{uri.AbsolutePath}{uri.Fragment}' (databases do not apply to pub/sub)";
            return false;
        }

        var prefix = "sockeye:";
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? pair : pair[..equals];
            var value = equals < 0 ? "" : Uri.UnescapeDataString(pair[(equals + 1)..]);
            if (key != "channel-prefix")
            {
                error = $"unknown parameter '{key}' (known: channel-prefix)";
                return false;
            }

            if (value.Length is 0 or > 64 || value.Any(c => c <= ' ' || c > '~'))
            {
                error = $"channel-prefix must be 1-64 printable ASCII characters without spaces, got '{value}'";
                return false;
            }

            prefix = value;
        }

        string? user = null, password = null;
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            user = colon < 0 ? Uri.UnescapeDataString(uri.UserInfo) : Uri.UnescapeDataString(uri.UserInfo[..colon]);
            password = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            if (user.Length == 0)
            {
                user = null;
            }
        }

        var port = uri.IsDefaultPort ? DefaultPort : uri.Port;
        if (port == 0)
        {
            error = "port 0 (a Redis server listens on a real port)";
            return false;
        }

        options = new RedisBackplaneOptions
        {
            EndPoint = uri.HostNameType == UriHostNameType.IPv6 ? $"{uri.Host}:{port.ToString(CultureInfo.InvariantCulture)}" : $"{uri.IdnHost}:{port.ToString(CultureInfo.InvariantCulture)}",
            ChannelPrefix = prefix,
            User = user,
            Password = password,
        };
        error = null;
        return true;
    }
}
