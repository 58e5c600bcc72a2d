using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// The local addresses a load generator binds its connections to, parsed from
/// <c>--source-ips 127.0.0.1-127.0.0.40,127.0.1.1</c>. One source address runs out of ephemeral
/// ports near 28,000 connections to one destination, so C100K-class loads spread over many.
/// </summary>
public sealed class SourceAddresses
{
    /// <summary>More addresses than any loopback test needs; stops a typo from listing millions.</summary>
    public const int MaxAddresses = 65_536;

    private SourceAddresses(IReadOnlyList<IPAddress> addresses) => Addresses = addresses;

    /// <summary>Every address, in the order connections take them (round robin).</summary>
    public IReadOnlyList<IPAddress> Addresses { get; }

    /// <summary>The address for connection number <paramref name="index"/>.</summary>
    public IPAddress For(long index) => Addresses[(int)(index % Addresses.Count)];

    /// <summary>Parses a comma-separated list of addresses and IPv4 ranges (<c>A-B</c>, inclusive).</summary>
    public static bool TryParse(string text, out SourceAddresses? result, out string error)
    {
        result = null;
        error = "";
        var list = new List<IPAddress>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                if (!IPAddress.TryParse(part, out var single))
                {
                    error = $"'{part}' is not an IP address";
                    return false;
                }

                list.Add(single);
                continue;
            }

            if (!IPAddress.TryParse(part.AsSpan(0, dash), out var first) || !IPAddress.TryParse(part.AsSpan(dash + 1), out var last)
                || first.AddressFamily != AddressFamily.InterNetwork || last.AddressFamily != AddressFamily.InterNetwork)
            {
                error = $"'{part}' is not a range of IPv4 addresses such as 127.0.0.1-127.0.0.40";
                return false;
            }

            var from = BinaryPrimitives.ReadUInt32BigEndian(first.GetAddressBytes());
            var to = BinaryPrimitives.ReadUInt32BigEndian(last.GetAddressBytes());
            if (to < from)
            {
                error = $"'{part}' ends before it starts";
                return false;
            }

            if (to - from + 1 + (uint)list.Count > MaxAddresses)
            {
                error = $"'{text}' names more than {MaxAddresses} addresses";
                return false;
            }

            for (var value = from; value <= to; value++)
            {
                var bytes = new byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
                list.Add(new IPAddress(bytes));
            }
        }

        if (list.Count == 0)
        {
            error = $"'{text}' names no address";
            return false;
        }

        result = new SourceAddresses(list);
        return true;
    }

    /// <summary>The addresses taken by child <paramref name="child"/> of <paramref name="children"/>,
    /// so that children never share an address (each then has all of its ephemeral ports).</summary>
    public string SliceFor(int child, int children)
    {
        if (Addresses.Count < children)
        {
            // Fewer addresses than children: they share, each starting at a different one.
            return string.Join(',', Enumerable.Range(0, Addresses.Count).Select(i => Addresses[(i + child) % Addresses.Count]));
        }

        return string.Join(',', Addresses.Where((_, i) => i % children == child));
    }
}
