using System.Net;
using Microsoft.Extensions.Configuration;
using Sockeye.Udp;

namespace Sockeye.Hosting.Internal;

/// <summary>
/// A listener ready to start: its options bound and checked, its handler chosen. Plans are made for
/// every listener before any binds its port, so a bad value anywhere stops the start with nothing open.
/// A TCP listener has a <see cref="Handler"/>. A UDP listener has a <see cref="DatagramHandler"/> factory,
/// called only when its server starts, so that a handler the listener creates (and must dispose) is never
/// created for a start that fails.
/// </summary>
internal sealed record ListenerPlan(string Name, string Protocol, SockeyeListenerOptions Options,
    Func<Connection, Task>? Handler, Func<IServiceProvider, (Func<Datagram, ValueTask> Handle, object? Owned)>? DatagramHandler)
{
    /// <summary>Every listener from code and from <c>{section}:Listeners</c>, bound and checked.</summary>
    /// <exception cref="SockeyeConfigurationException">A value is wrong; the message names key and value.</exception>
    public static List<ListenerPlan> MakeAll(SockeyeBuilder builder, IConfiguration? configuration, IServiceProvider services)
    {
        var listenersSection = builder.ConfigurationSection is { } root && configuration is not null
            ? configuration.GetSection($"{root}:Listeners")
            : null;
        var configured = listenersSection?.GetChildren().ToList() ?? [];
        var plans = new List<ListenerPlan>();
        foreach (var registration in builder.Listeners)
        {
            var section = configured.FirstOrDefault(s => string.Equals(s.Key, registration.Name, StringComparison.OrdinalIgnoreCase));
            plans.Add(Make(registration.Name, section, listenersSection, registration, builder, services));
        }

        foreach (var section in configured.Where(s => !builder.Listeners.Any(r => string.Equals(r.Name, s.Key, StringComparison.OrdinalIgnoreCase))))
        {
            plans.Add(Make(section.Key, section, listenersSection, null, builder, services));
        }

        return plans;
    }

    private static ListenerPlan Make(string name, IConfigurationSection? section, IConfigurationSection? listenersSection,
        ListenerRegistration? registration, SockeyeBuilder builder, IServiceProvider services)
    {
        var path = section?.Path ?? (listenersSection is null ? $"listener '{name}'" : $"{listenersSection.Path}:{name}");
        var options = new SockeyeListenerOptions();
        registration?.Configure?.Invoke(options);

        // The transport decides which server options the section binds: the registration's, or for a listener
        // only the configuration describes, its protocol's (a wrong protocol is reported below).
        var udp = registration?.IsUdp
            ?? (section?[nameof(SockeyeListenerOptions.Protocol)] is { } named && builder.FindUdpProtocol(named.Trim()) is not null);
        if (section is not null)
        {
            OptionsBinder.Bind(section, options, udp);
        }

        var address = options.ParseHost()
            ?? throw new SockeyeConfigurationException($"{path}:Host", options.Host, $"{path}:Host must be an IP address, localhost or *, got '{options.Host}'");
        if (options.Port is < IPEndPoint.MinPort or > IPEndPoint.MaxPort)
        {
            throw new SockeyeConfigurationException($"{path}:Port", options.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"{path}:Port must be between 0 and 65535, got {options.Port}");
        }

        var endPoint = new IPEndPoint(address, options.Port);
        if (options.SystemdSocket is { } socketName)
        {
            options.Server.ListenFd = ActivatedSocketFor(path, socketName, udp);
        }

        try
        {
            if (udp)
            {
                options.Udp.EndPoint = endPoint;
                options.Udp.Validate();
            }
            else
            {
                options.Server.EndPoint = endPoint;
                options.Server.Validate();
            }
        }
        catch (ArgumentException ex) when (ex.ParamName is { } option)
        {
            // The server options name the option first ("MaxConnections must be at least 1, got 0");
            // put the configuration key in its place.
            var message = ex.Message.Replace($" (Parameter '{option}')", "", StringComparison.Ordinal);
            if (message.StartsWith(option, StringComparison.Ordinal))
            {
                message = message[option.Length..];
            }

            throw new SockeyeConfigurationException($"{path}:{option}", section?[option], $"{path}:{option}{message}", ex);
        }

        return ChooseHandler(name, path, options, registration, builder, services);
    }

    // systemd's sockets, taken once per process (taking them clears the variables that describe them).
    private static readonly Lazy<IReadOnlyList<ActivatedSocket>> Activated = new(() => SocketActivation.TakeListeners());

    /// <summary>The descriptor of the socket systemd passed under <paramref name="name"/>.</summary>
    private static int ActivatedSocketFor(string path, string name, bool udp)
    {
        var key = $"{path}:{nameof(SockeyeListenerOptions.SystemdSocket)}";
        if (udp)
        {
            throw new SockeyeConfigurationException(key, name, $"{key} applies to TCP listeners only, got '{name}' on a UDP listener");
        }

        IReadOnlyList<ActivatedSocket> sockets;
        try
        {
            sockets = Activated.Value;
        }
        catch (InvalidOperationException ex)
        {
            throw new SockeyeConfigurationException(key, name, $"{key} is '{name}', but systemd's variables are malformed: {ex.Message}", ex);
        }

        foreach (var socket in sockets)
        {
            if (string.Equals(socket.Name, name, StringComparison.Ordinal))
            {
                return socket.Fd;
            }
        }

        var passed = sockets.Count == 0 ? "systemd passed no sockets to this process (LISTEN_PID is unset or names another process)"
            : $"systemd passed {string.Join(", ", sockets.Select(s => $"'{s.Name}' (descriptor {s.Fd})"))}";
        throw new SockeyeConfigurationException(key, name, $"{key} names the socket '{name}', but {passed}");
    }

    private static ListenerPlan ChooseHandler(string name, string path, SockeyeListenerOptions options,
        ListenerRegistration? registration, SockeyeBuilder builder, IServiceProvider services)
    {
        if (registration is not null)
        {
            if (options.Protocol is { Length: > 0 } named)
            {
                throw new SockeyeConfigurationException($"{path}:Protocol", named,
                    $"{path}:Protocol is '{named}', but listener '{name}' has its handler set in code ({registration.Protocol}); remove the key");
            }

            if (registration.DatagramHandler is { } datagramHandler)
            {
                return new ListenerPlan(name, registration.Protocol, options, null, datagramHandler);
            }

            return new ListenerPlan(name, registration.Protocol, options, registration.Handler!(services), null);
        }

        if (options.Protocol is not { Length: > 0 } protocol)
        {
            throw new SockeyeConfigurationException($"{path}:Protocol", null,
                $"{path}:Protocol is missing: name a built-in protocol ({string.Join(", ", builder.Protocols)}) or add listener '{name}' in code");
        }

        if (builder.FindUdpProtocol(protocol) is { } udpFactory)
        {
            return new ListenerPlan(name, protocol.ToLowerInvariant(), options, null, provider => (udpFactory(provider).HandleAsync, null));
        }

        var factory = builder.FindProtocol(protocol)
            ?? throw new SockeyeConfigurationException($"{path}:Protocol", protocol,
                $"{path}:Protocol must be one of {string.Join(", ", builder.Protocols)}, got '{protocol}'");
        return new ListenerPlan(name, protocol.ToLowerInvariant(), options, factory(services).HandleAsync, null);
    }
}
