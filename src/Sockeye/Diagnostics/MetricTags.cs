using System.Net;

namespace Sockeye.Diagnostics;

/// <summary>Tag values shared by the metrics: a server's identifying tags, and the snake_case names
/// of the enums, built once so that recording a measurement allocates nothing.</summary>
internal static class MetricTags
{
    public static readonly string[] CloseReasons = Names<ConnectionCloseReason>();

    public static readonly string[] TimeoutKinds = Names<ConnectionTimeoutKind>();

    /// <summary><c>server.address</c>, <c>server.port</c> (over IP) and <c>network.transport</c>.</summary>
    public static KeyValuePair<string, object?>[] ForServer(EndPoint endPoint, string transport) => endPoint switch
    {
        IPEndPoint ip =>
        [
            new("server.address", ip.Address.ToString()),
            new("server.port", ip.Port),
            new("network.transport", transport),
        ],
        _ =>
        [
            new("server.address", endPoint.ToString()),
            new("network.transport", transport),
        ],
    };

    /// <summary>The server's tags followed by one more.</summary>
    public static KeyValuePair<string, object?>[] With(KeyValuePair<string, object?>[] server, string key, object? value) =>
        [.. server, new(key, value)];

    /// <summary><c>PeerReset</c> → <c>peer_reset</c>.</summary>
    public static string SnakeCase(string name)
    {
        var text = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('_');
            }

            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }

    private static string[] Names<T>()
        where T : struct, Enum =>
        Enum.GetNames<T>().Select(SnakeCase).ToArray();
}
